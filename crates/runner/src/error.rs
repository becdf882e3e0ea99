//! Errors of the runner.

/// Why a sweep could not run (point-level failures are statuses in the rows, not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// A block's widths and λ cannot be λ-balanced; the message has the spec location.
    #[error("{0}")]
    Inadmissible(String),
    /// The shard is invalid.
    #[error("invalid shard {index}/{count}: need 0 <= k < N")]
    Shard {
        /// k.
        index: u32,
        /// N.
        count: u32,
    },
    /// The thread pool could not be built.
    #[error("failed to start {threads} worker threads: {reason}")]
    Pool {
        /// Requested threads.
        threads: usize,
        /// The cause.
        reason: String,
    },
    /// The dataset could not be read or written.
    #[error(transparent)]
    Store(#[from] lazyrich_store::StoreError),
}
