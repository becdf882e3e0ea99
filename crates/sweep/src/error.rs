//! Errors of spec reading and validation, and the one-line message format they share.
//!
//! Every message is one line, `FILE:LINE:COL: field `block[2].lambda`: reason`, or `FILE: reason`
//! when there is no position (an unreadable file). [`located_message`] builds that line so the
//! runner can report its own checks (e.g. width/λ admissibility) in the same format.

use std::fmt::Write as _;

/// A 1-based position in the spec text (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column (character) number, starting at 1.
    pub col: usize,
}

/// Formats a message as `ORIGIN:LINE:COL: field `FIELD`: REASON`.
///
/// The position is left out when `loc` is `None`, and the `field …:` part when `field` is empty.
pub fn located_message(origin: &str, loc: Option<Location>, field: &str, reason: &str) -> String {
    let mut out = String::with_capacity(origin.len() + field.len() + reason.len() + 24);
    out.push_str(origin);
    if let Some(loc) = loc {
        // Writing to a String cannot fail.
        let _ = write!(out, ":{}:{}", loc.line, loc.col);
    }
    out.push_str(": ");
    if !field.is_empty() {
        let _ = write!(out, "field `{field}`: ");
    }
    out.push_str(reason);
    out
}

/// Why a spec could not be read or is invalid. Every variant is a user-input error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The spec file could not be read (missing, unreadable, not UTF-8).
    #[error("{}", located_message(origin, None, "", &format!("failed to read spec: {error}")))]
    Read {
        /// The path as given.
        origin: String,
        /// The underlying IO error.
        error: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("{}", located_message(origin, *location, field, &format!("invalid toml: {message}")))]
    Syntax {
        /// File name used in messages.
        origin: String,
        /// Where the parser stopped, when known.
        location: Option<Location>,
        /// Best-effort field path of the offending line (may be empty).
        field: String,
        /// The TOML parser's message, on one line.
        message: String,
    },
    /// Valid TOML that is not a valid spec (unknown field, wrong type, absurd grid, …).
    #[error("{}", located_message(origin, *location, field, reason))]
    Invalid {
        /// File name used in messages.
        origin: String,
        /// Position of the offending value, when it has one.
        location: Option<Location>,
        /// Field path such as `block[2].lambda` (empty for document-level problems).
        field: String,
        /// What is wrong and, where possible, how to fix it.
        reason: String,
    },
}

impl SpecError {
    /// The position of the offending value, if any.
    pub fn location(&self) -> Option<Location> {
        match self {
            SpecError::Read { .. } => None,
            SpecError::Syntax { location, .. } | SpecError::Invalid { location, .. } => *location,
        }
    }

    /// The field path (e.g. `block[2].lambda`); empty when the error concerns no field.
    pub fn field(&self) -> &str {
        match self {
            SpecError::Read { .. } => "",
            SpecError::Syntax { field, .. } | SpecError::Invalid { field, .. } => field,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_formats() {
        let loc = Some(Location { line: 3, col: 7 });
        assert_eq!(
            located_message("a.toml", loc, "block[2].lambda", "must be finite"),
            "a.toml:3:7: field `block[2].lambda`: must be finite"
        );
        assert_eq!(located_message("a.toml", None, "", "failed"), "a.toml: failed");
        assert_eq!(located_message("a.toml", loc, "", "bad"), "a.toml:3:7: bad");
    }

    #[test]
    fn error_display_is_one_line() {
        let err = SpecError::Invalid {
            origin: "x.toml".into(),
            location: Some(Location { line: 1, col: 1 }),
            field: "name".into(),
            reason: "missing required field `name`".into(),
        };
        assert_eq!(err.to_string(), "x.toml:1:1: field `name`: missing required field `name`");
        assert_eq!(err.field(), "name");
        let read = SpecError::Read {
            origin: "y.toml".into(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(read.to_string(), "y.toml: failed to read spec: no such file");
        assert_eq!(read.location(), None);
    }
}
