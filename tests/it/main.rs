//! The one integration-test binary of lazyrich (matklad's "delete cargo integration tests").
//!
//! - `golden`: golden values G1–G3 of `docs/golden.md`;
//! - `cases`: test cases T1–T12 of `docs/math.md` §9;
//! - `properties`: seeded property tests of the closed form against our own RK4;
//! - `protocols`: tasks and multi-phase protocols (forgetting, reversal, cf vs simulation);
//! - `bundled_sweeps`: `compute_point` (lazyrich-runner) over every point of `sweeps/methods.toml`
//!   and `sweeps/tasks.toml`, and `balanced-signed` against the λ = 0 saddle;
//! - `numeric`: no row of `compute_point` holds a NaN or an infinity, over random points with
//!   extreme λ, scales, learning rates and steps.

mod adaptive;
mod bundled_sweeps;
mod cases;
mod golden;
mod numeric;
mod properties;
mod protocols;
