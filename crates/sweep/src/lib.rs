//! Sweep specs of lazyrich: TOML text → validated [`Spec`] → lazily indexed [`Point`]s.
//!
//! A spec names a grid of parameters (λ, scale, widths, task, init, method, …) as a union of
//! blocks, each a product of axes with optional zips and filters. Nothing is materialised:
//! [`Spec::point`] computes point `k` from `k` alone, [`Spec::points`] iterates a [`Shard`]
//! lazily, and [`Spec::count`] counts without building points. Every point carries a stable
//! `point_id` and seeds derived from its parameters only (never from order, shard or threads).
//!
//! This crate does not depend on the solver: it validates what it can know from the text
//! (types, grids, method requirements) and leaves width/λ admissibility to the runner, which
//! reports it with [`located_message`] in the same `FILE:LINE:COL: field `…`: reason` format.
//! The format itself is documented field by field in `docs/spec.md`.

mod axes;
mod block;
mod error;
mod fields;
mod filter;
mod grid;
mod ids;
mod params;
mod parse;
mod point;
mod shard;
mod size;
mod spec;
mod task;
mod value;

pub use error::{Location, SpecError, located_message};
pub use fields::{MAX_DEPTH, MAX_TIMES, MAX_WIDTH};
pub use grid::{MAX_GRID_VALUES, MAX_LOG_EXPONENT};
pub use params::{
    DEFAULT_ADAPTIVE_TOLERANCE, DEFAULT_TOLERANCE, InitKind, MIN_ADAPTIVE_TOLERANCE, Method, Real,
    Record, Sim, Step, max_scale,
};
pub use parse::{DEFAULT_MAX_POINTS, MAX_POINTS_LIMIT, MAX_STEPS};
pub use point::Point;
pub use shard::{Shard, ShardError};
pub use size::{MAX_POINT_BYTES, Memory, Shape, human_bytes};
pub use spec::count::{PASS_IDS, Tally};
pub use spec::{MAX_SPEC_BYTES, Spec};
pub use task::{TaskSpec, TransferSource};
