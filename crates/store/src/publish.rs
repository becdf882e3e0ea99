//! Publishing one part file, and the encoder threads that publish part files off the writer's
//! thread.
//!
//! A [`Job`] is one full buffer of rows of one task kind with its file name already allocated:
//! [`publish`] encodes it, writes it under `_lazyrich/tmp/`, fsyncs it, renames it into its
//! partition and fsyncs that directory. [`Encoders`] runs jobs on dedicated threads (not a
//! compute pool) behind a bounded queue, so that a run's rows are encoded and compressed on
//! several cores while its writer keeps receiving rows in order, and the rows held in memory
//! stay bounded (queue capacity plus one job per thread).

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::durable::{create_dir_synced, remove_if_exists, rename_synced};
use crate::encode::encode;
use crate::error::StoreError;
use crate::part::write_part;
use crate::row::PointRow;

/// One part file to publish: rows of one task kind under a name no other file has.
#[derive(Debug)]
pub(crate) struct Job {
    /// The temporary file, under `_lazyrich/tmp/`.
    pub(crate) temp: PathBuf,
    /// The partition directory (`points/task=<kind>/`).
    pub(crate) partition: PathBuf,
    /// The file name, in the temporary and the partition directory alike.
    pub(crate) name: String,
    /// Footer key-value pairs.
    pub(crate) footer: Vec<(&'static str, String)>,
    /// The rows.
    pub(crate) rows: Vec<PointRow>,
}

/// Writes the job's rows to its temporary file and publishes it. On failure nothing is
/// published and the temporary file is removed.
pub(crate) fn publish(job: &Job) -> Result<(), StoreError> {
    let batch = encode(&job.rows).map_err(|e| StoreError::arrow("encode rows for", &job.temp, e));
    write_part(&job.temp, job.footer.clone(), [batch])?;
    let published = create_dir_synced(&job.partition)
        .and_then(|()| rename_synced(&job.temp, &job.partition.join(&job.name)));
    if published.is_err() {
        // Best effort: the publishing error is the one to report.
        let _ = remove_if_exists(&job.temp);
    }
    published
}

/// What an encoder thread reports for a job.
#[derive(Debug)]
pub(crate) enum Done {
    /// Published, with this many rows.
    Published(u64),
    /// Not published: the error, and the job's rows back (nothing of them is on disk).
    Failed(StoreError, Vec<PointRow>),
}

/// Dedicated threads publishing [`Job`]s. Dropped, it lets the jobs already queued finish (a
/// file is published whole or not at all) and joins its threads.
#[derive(Debug)]
pub(crate) struct Encoders {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    threads: Vec<JoinHandle<()>>,
    /// Jobs queued or being published.
    in_flight: usize,
    /// Reports of jobs published on the caller's thread (no encoder thread left).
    ready: Vec<Done>,
}

impl Encoders {
    /// Starts `count` (≥ 1) encoder threads behind a queue of `count` jobs.
    pub(crate) fn start(count: usize) -> Result<Self, StoreError> {
        let count = count.max(1);
        let (jobs, queue) = sync_channel::<Job>(count);
        let queue = Arc::new(Mutex::new(queue));
        let (report, done) = channel::<Done>();
        let mut encoders =
            Self { jobs: Some(jobs), done, threads: Vec::new(), in_flight: 0, ready: Vec::new() };
        for i in 0..count {
            let queue = Arc::clone(&queue);
            let report: Sender<Done> = report.clone();
            let thread = std::thread::Builder::new()
                .name(format!("lazyrich-encoder-{i}"))
                .spawn(move || encode_loop(&queue, &report))
                .map_err(|e| StoreError::io("start an encoder thread for", "points/", e))?;
            encoders.threads.push(thread);
        }
        Ok(encoders)
    }

    /// Queues `job`, waiting while the queue is full.
    pub(crate) fn submit(&mut self, job: Job) {
        let job = match &self.jobs {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => {
                    self.in_flight += 1;
                    return;
                }
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        // Every encoder thread has gone (a panic there): publish on this thread instead.
        self.ready.push(match publish(&job) {
            Ok(()) => Done::Published(job.rows.len() as u64),
            Err(e) => Done::Failed(e, job.rows),
        });
    }

    /// The jobs finished since the last call, without waiting.
    pub(crate) fn finished(&mut self) -> Vec<Done> {
        let mut out = std::mem::take(&mut self.ready);
        while self.in_flight > 0 {
            match self.done.try_recv() {
                Ok(done) => {
                    self.in_flight -= 1;
                    out.push(done);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        out
    }

    /// Waits for every queued job and returns what they did.
    pub(crate) fn wait_all(&mut self) -> Vec<Done> {
        let mut out = std::mem::take(&mut self.ready);
        while self.in_flight > 0 {
            match self.done.recv() {
                Ok(done) => {
                    self.in_flight -= 1;
                    out.push(done);
                }
                Err(_) => break,
            }
        }
        out
    }

    /// Jobs queued or being published.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }
}

fn encode_loop(queue: &Mutex<Receiver<Job>>, report: &Sender<Done>) {
    loop {
        // A poisoned lock means another encoder panicked while holding it: stop this one too.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panic while encoding fails this job alone: the thread goes on, and its report
        // keeps the writer from waiting for it forever.
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| publish(&job))).unwrap_or_else(|panic| {
                let _ = remove_if_exists(&job.temp);
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Err(StoreError::io(
                    "write",
                    &job.temp,
                    std::io::Error::other(format!("encoding panicked: {what}")),
                ))
            });
        let done = match result {
            Ok(()) => Done::Published(job.rows.len() as u64),
            Err(e) => Done::Failed(e, job.rows),
        };
        if report.send(done).is_err() {
            return;
        }
    }
}

impl Drop for Encoders {
    fn drop(&mut self) {
        // Closing the queue ends each thread once the queue is empty.
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
