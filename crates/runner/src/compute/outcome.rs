//! [`Outcome`]: why a point stopped before its last time, as the row's status and message.

use lazyrich_solver::Status;
use lazyrich_tasks::ProtocolError;

/// Status of a point whose parameters the solver or task generator refused.
const STATUS_INVALID: &str = "invalid";

/// Why a point stopped before its last time: a status and a message for the row.
pub(super) struct Outcome {
    pub(super) status: &'static str,
    pub(super) message: String,
}

impl From<ProtocolError> for Outcome {
    fn from(err: ProtocolError) -> Outcome {
        let status = err.error.status().map_or(STATUS_INVALID, Status::as_str);
        Outcome { status, message: err.to_string() }
    }
}

impl Outcome {
    /// The outcome of a solver error outside a protocol (its status, or `invalid`).
    pub(super) fn from_solver(err: lazyrich_solver::SolverError) -> Outcome {
        let status = err.status().map_or(STATUS_INVALID, Status::as_str);
        Outcome { status, message: err.to_string() }
    }
}

/// An [`Outcome`] with status `invalid`.
pub(super) fn invalid(message: String) -> Outcome {
    Outcome { status: STATUS_INVALID, message }
}
