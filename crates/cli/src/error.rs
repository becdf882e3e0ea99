//! The one error type the CLI defines itself: bad input, which exits with code 2.
//!
//! Everything else travels as a plain [`anyhow::Error`] and exits with code 1. A [`BadInput`]
//! may be wrapped in `anyhow` context (for example the file name); [`exit_code`] still finds it.

/// Exit code for bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for every other failure.
pub const EXIT_FAILURE: u8 = 1;

/// The user's input is wrong: unreadable, malformed, or out of its domain.
///
/// The message is one line and names the offending field, e.g.
/// `w1: row 2 has 3 entries, row 1 has 2`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

impl BadInput {
    /// A bad-input error with the given message.
    pub fn new(message: impl Into<String>) -> BadInput {
        BadInput(message.into())
    }
}

/// The process exit code for an error: [`EXIT_BAD_INPUT`] if any error in its chain is a
/// [`BadInput`], [`EXIT_FAILURE`] otherwise.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| cause.is::<BadInput>()) || err.downcast_ref::<BadInput>().is_some() {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILURE
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn bad_input_is_found_below_context() {
        let err = Err::<(), _>(BadInput::new("w1: empty"))
            .context("failed to read problem.json")
            .unwrap_err();
        assert_eq!(exit_code(&err), EXIT_BAD_INPUT);
        assert_eq!(format!("{err:#}"), "failed to read problem.json: w1: empty");
    }

    #[test]
    fn bad_input_is_found_below_context_on_an_anyhow_error() {
        let err = anyhow::Error::from(BadInput::new("w1: empty")).context("outer");
        assert_eq!(exit_code(&err), EXIT_BAD_INPUT);
    }

    #[test]
    fn other_errors_exit_with_one() {
        let err = anyhow::anyhow!("broken pipe");
        assert_eq!(exit_code(&err), EXIT_FAILURE);
    }
}
