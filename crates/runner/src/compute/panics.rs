//! [`catch_quietly`]: runs a closure, turning a panic into its message instead of unwinding
//! through the sweep, and without the default hook's report on stderr (only the CLI prints, and a
//! sweep of a million points must not print a backtrace per point). A leaf module.
//!
//! The process-wide panic hook is wrapped once: while a thread runs [`catch_quietly`], the hook
//! only records the panic's location for the message; on every other thread, and outside
//! `catch_quietly`, the previous hook runs as before.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// This thread is inside [`catch_quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic of this thread happened.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

fn install_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let location =
                    info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// `f()`, or the message of its panic (`"<payload> at <file>:<line>:<col>"`).
///
/// `f` must leave nothing half-written behind that the caller reads after a panic: callers build
/// their result inside `f` and start afresh on `Err`.
pub(super) fn catch_quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was_quiet = QUIET.with(|quiet| quiet.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(was_quiet));
    result.map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        match LOCATION.with(|slot| slot.borrow_mut().take()) {
            Some(location) => format!("{message} at {location}"),
            None => message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_with_the_location() {
        assert_eq!(catch_quietly(|| 41 + 1), Ok(42));
        let err = catch_quietly(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert!(err.starts_with("boom 7 at crates/runner/src/compute/panics.rs:"), "{err}");
        let err = catch_quietly(|| -> u32 { std::panic::panic_any(5_u8) }).unwrap_err();
        assert!(err.starts_with("a panic without a message at "), "{err}");
        // Nested: the inner catch does not turn the outer thread loud.
        let outer = catch_quietly(|| -> u32 {
            let inner = catch_quietly(|| -> u32 { panic!("inner") });
            assert!(inner.is_err());
            panic!("outer")
        });
        assert!(outer.unwrap_err().starts_with("outer at "));
        assert!(!QUIET.with(Cell::get));
    }
}
