//! The sweep runner: spec points → solver runs on rayon workers → one writer thread → Parquet.
//!
//! - [`validate`] checks what the sweep crate cannot (it has no solver): that every block's widths
//!   and λ admit a λ-balanced initialization (docs/math.md §2.1), before any work starts.
//! - [`compute_point`] turns one [`lazyrich_sweep::Point`] into one [`lazyrich_store::PointRow`]:
//!   task, initialization, closed form and/or simulation, metrics and summaries. It is pure: the
//!   row depends only on the point (never on thread count, shard or order), except `wall_time_s`.
//!   [`compute_point_with`] does the same with a [`SetupCache`] that a worker keeps from one
//!   point to the next: the task side of a replicate and the draws of a balanced init, shared by
//!   the points that differ only in λ or the scale (bitwise the same rows).
//! - [`run`] drives a shard: it skips points already published (resume), computes the rest on a
//!   rayon pool and sends rows over a bounded crossbeam channel (backpressure) to one writer
//!   thread that cuts part files by count and by time and hands them to `ceil(threads/4)`
//!   encoder threads (encoding, compression, fsync, publishing). An [`Observer`] sees progress.
//! - [`first_problem`] and [`initial_network`] give a point's task and initial weights as
//!   values (`lazyrich solve` from a description); [`initial_network_and_factors`] also the
//!   aligned init's factors (`solve` of a deep aligned description).
//! - [`estimate`] and [`sample`] time a spread sample of a spec's points (to choose a shard count,
//!   and for `plan`'s time and size estimates); [`step_check`] estimates whether a simulation's
//!   step is stable (for `plan`'s warnings).

mod compute;
mod error;
mod estimate;
mod materialize;
mod run;
mod stability;
mod validate;

pub use compute::{SetupCache, compute_point, compute_point_with};
pub use error::RunnerError;
pub use estimate::{Estimate, Sample, estimate, sample};
pub use materialize::{first_problem, initial_network, initial_network_and_factors};
pub use run::{Observer, RunOptions, RunSummary, SilentObserver, run};
pub use stability::{GD_LIMIT, RK4_LIMIT, StepCheck, step_check};
pub use validate::validate;
