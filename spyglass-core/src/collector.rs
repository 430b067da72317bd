//! The collector: a bounded drop-oldest queue drained in batches by a background thread.
//!
//! Producers push with [`crossbeam_queue::ArrayQueue::force_push`], which replaces the oldest event
//! when the queue is full: a producer never blocks and never waits for the exporters, and every
//! displaced event is counted in `dropped`. A dedicated OS thread (not a task on the application's
//! runtime) pops batches of at most `batch_max` events, counts them in the
//! [stats store](mod@crate::stats), feeds the [flight recorder](crate::recent) and hands each batch to
//! every exporter. It wakes when a quarter of the queue is waiting and at least every
//! `flush_interval`.
//!
//! Keeping the stats on the worker leaves a producer with a clock reading, ids and one queue push.
//! The stats still count every event: one the queue turns away (displaced, or pushed after
//! shutdown) is handed back to its producer, which counts it itself. A stats reader first
//! [syncs](CollectorStats::sync) with the worker, so it sees every event emitted before it asked.
//!
//! `benches/benches/queue.rs` compares this queue with `flume`'s bounded channel made drop-oldest by
//! popping from the producer side; the lock-free `force_push` is the faster of the two.
//!
//! Accounting: `emitted` counts events offered to the queue, `exported` events handed to the
//! exporters, `dropped` events displaced or offered after shutdown. After [`shutdown`](crate::shutdown)
//! `emitted == exported + dropped` exactly.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use parking_lot::{Condvar, Mutex};

use crate::event::Event;
use crate::export::{Batch, Exporter, Resource};
use crate::recent::Recent;
use crate::stats::{CollectorSnapshot, StatsStore};

/// How long a stats reader waits for the worker to catch up before reading what it has.
const SYNC_TIMEOUT: Duration = Duration::from_millis(250);
/// A worker inside one exporter call for longer than this is taken as stuck: a stats reader stops
/// waiting for it at once (the dashboard is served from what the stats already hold).
const STUCK_IN_EXPORT: Duration = Duration::from_millis(10);

/// The queue and the collector's counters, shared by producers, the worker and the stats store.
#[derive(Debug)]
pub struct CollectorStats {
    queue: ArrayQueue<Event>,
    /// Events the worker has popped (written by the worker only).
    popped: AtomicU64,
    exported: AtomicU64,
    dropped: AtomicU64,
    export_errors: AtomicU64,
    sleeping: AtomicBool,
    closed: AtomicBool,
    /// Whether a worker is running (false before it starts and after it stops).
    running: AtomicBool,
    /// When the worker's current export call began (Unix ns), 0 outside export calls.
    exporting_since: AtomicU64,
    wake_at: usize,
    worker: OnceLock<Thread>,
    added: Mutex<Vec<Box<dyn Exporter>>>,
    has_added: AtomicBool,
    flush: Mutex<FlushState>,
    flushed: Condvar,
}

/// Requests to the worker, each a counter the worker catches up with.
#[derive(Debug, Default)]
struct FlushState {
    /// Flushes requested / done: drain, then flush the exporters.
    requested: u64,
    done: u64,
    /// Syncs requested / done: drain into the stats store (no exporter flush).
    sync_requested: u64,
    sync_done: u64,
}

/// What a stats reader or `flush` asks the worker for.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// Drain, then flush the exporters.
    Flush,
    /// Drain into the stats store.
    Sync,
}

impl FlushState {
    /// Counts a new request for `pass`, returning the count the worker must reach.
    fn bump(&mut self, pass: Pass) -> u64 {
        let n = match pass {
            Pass::Flush => &mut self.requested,
            Pass::Sync => &mut self.sync_requested,
        };
        *n += 1;
        *n
    }

    fn done(&self, pass: Pass) -> u64 {
        match pass {
            Pass::Flush => self.done,
            Pass::Sync => self.sync_done,
        }
    }
}

impl CollectorStats {
    pub(crate) fn new(capacity: usize, batch_max: usize) -> Self {
        CollectorStats {
            queue: ArrayQueue::new(capacity.max(1)),
            popped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            export_errors: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            running: AtomicBool::new(false),
            exporting_since: AtomicU64::new(0),
            // Wake the worker for a quarter of the queue (at least one batch): fewer wake-ups, each
            // draining several batches, while three quarters of the queue stay free for bursts.
            wake_at: batch_max.max(capacity / 4).clamp(1, capacity.max(1)),
            worker: OnceLock::new(),
            added: Mutex::new(Vec::new()),
            has_added: AtomicBool::new(false),
            flush: Mutex::new(FlushState::default()),
            flushed: Condvar::new(),
        }
    }

    /// Offers an event; never blocks. When the queue is full the oldest event is displaced; after
    /// shutdown the event itself is refused. Either way the event turned away is returned (and
    /// counted as dropped) for the caller to count in the stats store.
    #[inline]
    pub(crate) fn push(&self, ev: Event) -> Option<Event> {
        if self.closed.load(Ordering::Acquire) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Some(ev);
        }
        let displaced = self.queue.force_push(ev);
        if displaced.is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if self.sleeping.load(Ordering::Relaxed) && self.queue.len() >= self.wake_at {
            self.wake();
        }
        displaced
    }

    #[cold]
    #[inline(never)]
    fn wake(&self) {
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }

    /// Hands exporters to the running worker, which starts them before its next batch.
    pub(crate) fn add_exporters(&self, exporters: Vec<Box<dyn Exporter>>) {
        self.added.lock().extend(exporters);
        self.has_added.store(true, Ordering::Release);
        self.wake();
    }

    /// Waits (at most 250 ms) until the worker has counted in the stats store every event queued
    /// before the call. Returns at once when called from the worker itself (an exporter reading the
    /// stats), when no worker runs, or when the worker has been inside one exporter call for over
    /// 10 ms (a stalled exporter must not stall the dashboard too). Returns whether the worker caught
    /// up.
    pub fn sync(&self) -> bool {
        self.sync_within(SYNC_TIMEOUT)
    }

    /// As [`sync`](Self::sync), waiting at most `timeout`. A zero `timeout` only asks the worker to
    /// catch up now and returns at once (what a reader on an async executor thread does: the
    /// events it missed are counted by its next read).
    pub fn sync_within(&self, timeout: Duration) -> bool {
        if !self.running.load(Ordering::Acquire)
            || self
                .worker
                .get()
                .is_some_and(|w| w.id() == thread::current().id())
        {
            return false;
        }
        self.request(Pass::Sync, timeout)
    }

    /// Whether the worker has been inside one exporter call for longer than [`STUCK_IN_EXPORT`].
    fn stuck_in_export(&self) -> bool {
        let since = self.exporting_since.load(Ordering::Acquire);
        since != 0
            && crate::clock::unix_nanos().saturating_sub(since) > STUCK_IN_EXPORT.as_nanos() as u64
    }

    /// Asks the worker for a pass and waits until it has made it, the worker stopped, or `timeout`
    /// passed. Returns whether the pass was made.
    fn request(&self, pass: Pass, timeout: Duration) -> bool {
        let mut st = self.flush.lock();
        let target = st.bump(pass);
        self.wake();
        let deadline = Instant::now() + timeout;
        while st.done(pass) < target {
            if !self.running.load(Ordering::Acquire) || Instant::now() >= deadline {
                return false;
            }
            if matches!(pass, Pass::Sync) && self.stuck_in_export() {
                return false;
            }
            // Wake now and then to notice a worker that got stuck after the request.
            let slice = (Instant::now() + STUCK_IN_EXPORT).min(deadline);
            self.flushed.wait_until(&mut st, slice);
        }
        true
    }

    /// Current counters.
    pub fn snapshot(&self) -> CollectorSnapshot {
        // Every event offered is in the queue, popped by the worker or dropped. Read `exported` first
        // so a concurrent snapshot never shows more handled than emitted.
        let exported = self.exported.load(Ordering::Acquire);
        let popped = self.popped.load(Ordering::Acquire);
        let dropped = self.dropped.load(Ordering::Acquire);
        let queue_depth = self.queue.len() as u64;
        CollectorSnapshot {
            emitted: (popped + dropped + queue_depth).max(exported + dropped),
            exported,
            dropped,
            queue_depth,
            queue_capacity: self.queue.capacity() as u64,
            export_errors: self.export_errors.load(Ordering::Relaxed),
        }
    }
}

/// Collector settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CollectorConfig {
    pub(crate) batch_max: usize,
    pub(crate) flush_interval: Duration,
}

/// The running collector: its shared state and worker thread.
#[derive(Debug)]
pub(crate) struct Collector {
    shared: Arc<CollectorStats>,
    stats: Arc<StatsStore>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Collector {
    pub(crate) fn start(
        shared: Arc<CollectorStats>,
        cfg: CollectorConfig,
        exporters: Vec<Box<dyn Exporter>>,
        resource: Resource,
        recent: Arc<Recent>,
        stats: Arc<StatsStore>,
    ) -> std::io::Result<Self> {
        let worker = Worker {
            shared: shared.clone(),
            cfg,
            last_error_log: vec![None; exporters.len()],
            exporters,
            resource,
            recent,
            stats: stats.clone(),
            batch: Vec::with_capacity(cfg.batch_max),
        };
        shared.running.store(true, Ordering::Release);
        let handle = thread::Builder::new()
            .name("spyglass-collector".into())
            .spawn(move || worker.run())
            .inspect_err(|_| shared.running.store(false, Ordering::Release))?;
        let _ = shared.worker.set(handle.thread().clone());
        Ok(Collector {
            shared,
            stats,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Blocks until every event queued before the call has been exported and the exporters flushed,
    /// or `timeout` passes. Returns whether it completed.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.shared.request(Pass::Flush, timeout)
    }

    /// Stops accepting events, exports everything queued, shuts the exporters down and joins the
    /// worker. Idempotent.
    pub(crate) fn shutdown(&self) {
        let s = &self.shared;
        s.closed.store(true, Ordering::Release);
        s.wake();
        let handle = self.handle.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
            // A producer that saw the queue open just before it closed may have pushed after the
            // worker's last drain: those events are dropped and counted (and still counted in
            // the stats).
            while let Some(ev) = s.queue.pop() {
                s.dropped.fetch_add(1, Ordering::Relaxed);
                self.stats.record(&ev);
            }
        }
    }
}

struct Worker {
    shared: Arc<CollectorStats>,
    cfg: CollectorConfig,
    exporters: Vec<Box<dyn Exporter>>,
    resource: Resource,
    recent: Arc<Recent>,
    stats: Arc<StatsStore>,
    batch: Vec<Event>,
    last_error_log: Vec<Option<Instant>>,
}

const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Worker {
    fn run(mut self) {
        for i in 0..self.exporters.len() {
            let r = self.exporters[i].start(&self.resource);
            self.check(i, r);
        }
        let mut deadline = Instant::now() + self.cfg.flush_interval;
        loop {
            if self.shared.has_added.swap(false, Ordering::AcqRel) {
                let added = std::mem::take(&mut *self.shared.added.lock());
                for mut e in added {
                    let r = e.start(&self.resource);
                    self.exporters.push(e);
                    self.last_error_log.push(None);
                    self.check(self.exporters.len() - 1, r);
                }
            }
            let closing = self.shared.closed.load(Ordering::Acquire);
            let (flush_target, sync_target) = {
                let st = self.shared.flush.lock();
                (
                    (st.requested > st.done).then_some(st.requested),
                    (st.sync_requested > st.sync_done).then_some(st.sync_requested),
                )
            };
            let now = Instant::now();
            if closing
                || flush_target.is_some()
                || sync_target.is_some()
                || now >= deadline
                || self.shared.queue.len() >= self.shared.wake_at
            {
                self.drain();
                deadline = now + self.cfg.flush_interval;
            }
            if closing {
                for i in 0..self.exporters.len() {
                    let r = self.exporters[i].shutdown();
                    self.check(i, r);
                }
                let mut st = self.shared.flush.lock();
                st.done = st.requested;
                st.sync_done = st.sync_requested;
                self.shared.running.store(false, Ordering::Release);
                self.shared.flushed.notify_all();
                return;
            }
            if let Some(target) = sync_target {
                let mut st = self.shared.flush.lock();
                st.sync_done = st.sync_done.max(target);
                self.shared.flushed.notify_all();
            }
            if let Some(target) = flush_target {
                for i in 0..self.exporters.len() {
                    let r = self.exporters[i].flush();
                    self.check(i, r);
                }
                let mut st = self.shared.flush.lock();
                st.done = st.done.max(target);
                self.shared.flushed.notify_all();
                continue;
            }
            self.shared.sleeping.store(true, Ordering::SeqCst);
            if self.shared.queue.len() < self.shared.wake_at
                && !self.shared.closed.load(Ordering::SeqCst)
            {
                let wait = deadline.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    thread::park_timeout(wait);
                }
            }
            self.shared.sleeping.store(false, Ordering::Relaxed);
        }
    }

    /// Counts everything in the queue in the stats store and exports it, in batches of at most
    /// `batch_max`.
    fn drain(&mut self) {
        loop {
            while self.batch.len() < self.cfg.batch_max {
                match self.shared.queue.pop() {
                    Some(ev) => self.batch.push(ev),
                    None => break,
                }
            }
            if self.batch.is_empty() {
                return;
            }
            self.stats.record_batch(&self.batch);
            self.shared
                .popped
                .fetch_add(self.batch.len() as u64, Ordering::Release);
            self.export_batch();
        }
    }

    fn export_batch(&mut self) {
        self.shared
            .exporting_since
            .store(crate::clock::unix_nanos().max(1), Ordering::Release);
        for i in 0..self.exporters.len() {
            let batch = Batch {
                events: &self.batch,
                resource: &self.resource,
            };
            let exporter = &mut self.exporters[i];
            // A panicking exporter must not take the collector down with it.
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exporter.export(&batch)))
                    .unwrap_or_else(|_| {
                        Err(crate::export::ExportError::Other(
                            "exporter panicked".into(),
                        ))
                    });
            self.check(i, r);
        }
        self.shared.exporting_since.store(0, Ordering::Release);
        self.shared
            .exported
            .fetch_add(self.batch.len() as u64, Ordering::Release);
        // The flight recorder assembles traces from the batch, keeps it as its newest events and
        // hands back an empty one.
        self.recent.ingest(&mut self.batch);
    }

    fn check(&mut self, i: usize, r: Result<(), crate::export::ExportError>) {
        if let Err(e) = r {
            self.shared.export_errors.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            let due = self.last_error_log[i].is_none_or(|t| now - t >= ERROR_LOG_INTERVAL);
            if due {
                self.last_error_log[i] = Some(now);
                eprintln!(
                    "spyglass: exporter '{}' failed: {e} (further errors of this exporter are counted in \
                     collector.export_errors and logged at most every {}s)",
                    self.exporters[i].name(),
                    ERROR_LOG_INTERVAL.as_secs()
                );
            }
        }
    }
}
