//! [`Outcome`]: why a point stopped before its last time, or why its values are not `ok`, as
//! the row's status and message. A leaf module.

use lazyrich_solver::{InitError, SolverError, Status};
use lazyrich_tasks::ProtocolError;

/// Status of a point whose parameters the solver or task generator refused.
const STATUS_INVALID: &str = "invalid";
/// Status of a point whose computation panicked (a bug; docs/dataset.md "Statuses").
pub(super) const STATUS_PANIC: &str = "panic";

/// Why a point stopped before its last time: a status and a message for the row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Outcome {
    pub(super) status: &'static str,
    pub(crate) message: String,
}

impl From<ProtocolError> for Outcome {
    fn from(err: ProtocolError) -> Outcome {
        let status = err.error.status().map_or(STATUS_INVALID, Status::as_str);
        Outcome { status, message: err.to_string() }
    }
}

impl From<SolverError> for Outcome {
    /// The outcome of a solver error outside a protocol (its status, or `invalid`).
    fn from(err: SolverError) -> Outcome {
        let status = err.status().map_or(STATUS_INVALID, Status::as_str);
        Outcome { status, message: err.to_string() }
    }
}

impl From<InitError> for Outcome {
    /// `overflow` (or `inaccurate`) for a numerical failure of the init, `invalid` otherwise.
    fn from(err: InitError) -> Outcome {
        let status = err.status().map_or(STATUS_INVALID, Status::as_str);
        Outcome { status, message: err.to_string() }
    }
}

impl Outcome {
    /// An [`Outcome`] with `status` and `message`.
    pub(super) fn new(status: Status, message: String) -> Outcome {
        Outcome { status: status.as_str(), message }
    }
}

/// An [`Outcome`] with status `invalid`.
pub(super) fn invalid(message: String) -> Outcome {
    Outcome { status: STATUS_INVALID, message }
}
