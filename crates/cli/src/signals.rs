//! The signals that stop `lazyrich run` without losing work: SIGTERM (`scancel`, a Slurm time
//! limit, preemption, `kill`, Kubernetes), SIGINT (Ctrl-C) and SIGUSR1 (`sbatch --signal`).
//!
//! The first of them sets a flag: the runner stops taking points, publishes every row already
//! computed and returns; `run` then says what it saved and exits with [`EXIT_STOPPED`]. A second
//! one ends the process at once with `128 + signal` (the shell's convention for "killed by"),
//! losing only the rows not yet published.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::flag;

/// Exit status of a run stopped by a signal after publishing everything it computed.
pub const EXIT_STOPPED: u8 = 3;

/// The signals [`StopSignals::install`] handles, with their names.
const HANDLED: [(i32, &str); 3] = [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGUSR1, "SIGUSR1")];

/// The stop flag of a run and the signal that set it.
#[derive(Debug)]
pub struct StopSignals {
    flag: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl StopSignals {
    /// Installs the handlers: from now on the first SIGTERM, SIGINT or SIGUSR1 sets
    /// [`StopSignals::flag`] and a second one exits with `128 + signal`.
    pub fn install() -> std::io::Result<StopSignals> {
        let stop = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicUsize::new(0));
        for (number, _) in HANDLED {
            // Registered first, so that it sees the flag as the previous signal left it: unset
            // on the first signal (no exit), set on the second.
            flag::register_conditional_shutdown(number, 128 + number, Arc::clone(&stop))?;
            flag::register_usize(number, Arc::clone(&signal), number as usize)?;
            flag::register(number, Arc::clone(&stop))?;
        }
        Ok(StopSignals { flag: stop, signal })
    }

    /// The flag the runner polls ([`lazyrich_runner::RunOptions::stop`]).
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// The name of the signal that stopped the run, if one did.
    pub fn received(&self) -> Option<&'static str> {
        if !self.flag.load(Ordering::SeqCst) {
            return None;
        }
        let number = self.signal.load(Ordering::SeqCst);
        Some(
            HANDLED
                .iter()
                .find(|&&(n, _)| n as usize == number)
                .map_or("a signal", |&(_, name)| name),
        )
    }
}

/// A run stopped by a signal: everything it computed is published (exit [`EXIT_STOPPED`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Stopped(pub String);
