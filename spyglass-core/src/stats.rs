//! The rolling stats store: per route, function and query fingerprint, over a sliding window.
//!
//! Every event is counted here, whatever the sampling and whatever the queue drops: the collector's
//! worker counts each batch it pops, and a producer counts an event the queue turns away (the oldest,
//! displaced when the queue is full). Readers first [sync](crate::collector::CollectorStats::sync)
//! with the worker, so a snapshot covers every event emitted before it (a reader that must not wait,
//! such as the dashboard on an async executor thread, reads with the `_unsynced` variants after a
//! bounded [`sync_within`](StatsStore::sync_within)). Each key owns a ring of time
//! buckets (10 s by default, 90 of them for the default 15-minute window) holding counts, bytes,
//! rows, the maximum and a log-linear histogram, plus a running total of the
//! buckets before the newest, so a full-window snapshot reads two histograms per key.
//!
//! Distinct keys are capped per kind (default 1000); past the cap new keys fold into `<other>`, so
//! memory is bounded whatever the traffic: at most `cap × (90 × ~1.5 KiB + ~2.8 KiB)` per kind (a
//! bucket's histogram is 1.4 KiB, the running total's 2.8 KiB).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use spyglass_core::Spyglass;
//!
//! let sg = Spyglass::builder().service_name("shop").build().unwrap();
//! sg.emitter().emit_req("GET", "/users/{id}", 200, Duration::from_millis(12));
//! let snap = sg.stats().snapshot(Duration::from_secs(60));
//! assert_eq!(snap.requests[0].route, "/users/{id}");
//! assert_eq!(snap.requests[0].count, 1);
//! ```

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use hashbrown::{Equivalent, HashMap};
use parking_lot::{ArcMutexGuard, Mutex, RawMutex, RwLock};
use serde::Serialize;

use crate::collector::CollectorStats;
use crate::event::{Event, EventKind};
use crate::histogram::{Histogram, Merged};
use crate::name::Name;
use crate::recent::{kind_index, KindFilter};

/// Route, function name and statement under which keys past the cap are counted.
pub const OTHER: &str = "<other>";

/// Settings of the stats store.
#[derive(Debug, Clone)]
pub struct StatsConfig {
    /// The longest window a snapshot can cover (default 15 minutes).
    pub window: Duration,
    /// Width of one time bucket (default 10 s).
    pub bucket: Duration,
    /// Distinct keys per kind before new ones fold into `<other>` (default 1000).
    pub max_keys: usize,
    /// A query at least this slow is counted as slow (default 100 ms).
    pub slow_query: Duration,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            window: Duration::from_secs(900),
            bucket: Duration::from_secs(10),
            max_keys: 1000,
            slow_query: Duration::from_millis(100),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    count: u64,
    errors: u64,
    bytes_in: u64,
    bytes_out: u64,
    rows: u64,
    slow: u64,
    max_ns: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.count += o.count;
        self.errors += o.errors;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.rows += o.rows;
        self.slow += o.slow;
        self.max_ns = self.max_ns.max(o.max_ns);
    }

    fn sub(&mut self, o: &Counts) {
        self.count -= o.count;
        self.errors -= o.errors;
        self.bytes_in -= o.bytes_in;
        self.bytes_out -= o.bytes_out;
        self.rows -= o.rows;
        self.slow -= o.slow;
    }
}

/// What one event adds to a series.
#[derive(Debug, Clone, Copy)]
struct Sample {
    dur_ns: u64,
    error: bool,
    bytes_in: u64,
    bytes_out: u64,
    rows: u64,
    slow: bool,
}

#[derive(Debug)]
struct Bucket {
    epoch: u64,
    counts: Counts,
    hist: Option<Histogram>,
}

/// One key's ring of buckets and a running total of every bucket in the window but the newest.
///
/// An event touches only the newest (head) bucket; a bucket is folded into the total when time moves
/// past it and taken out again when it leaves the window. A full-window read is then the total plus
/// the head bucket: two histograms per key, however many buckets the window has.
#[derive(Debug)]
pub(crate) struct Series {
    buckets: Box<[Bucket]>,
    /// The newest epoch the ring has been advanced to.
    head: u64,
    /// Its slot in the ring.
    head_idx: usize,
    /// Sum of the valid buckets other than the head one.
    total: Counts,
    total_hist: Merged,
}

impl Series {
    fn new(n: usize, now_epoch: u64) -> Self {
        Series {
            buckets: (0..n)
                .map(|_| Bucket {
                    epoch: u64::MAX,
                    counts: Counts::default(),
                    hist: None,
                })
                .collect(),
            head: now_epoch,
            head_idx: (now_epoch % n as u64) as usize,
            total: Counts::default(),
            total_hist: Merged::new(),
        }
    }

    #[inline]
    fn index(&self, epoch: u64) -> usize {
        (epoch % self.buckets.len() as u64) as usize
    }

    /// Moves the head to `epoch`: folds the old head bucket into the total and expires buckets that
    /// leave the window.
    #[inline]
    fn advance(&mut self, epoch: u64) {
        if epoch > self.head {
            self.advance_to(epoch);
        }
    }

    #[cold]
    fn advance_to(&mut self, epoch: u64) {
        let n = self.buckets.len() as u64;
        if epoch - self.head >= n {
            for b in self.buckets.iter_mut() {
                b.epoch = u64::MAX;
                b.counts = Counts::default();
                if let Some(h) = &mut b.hist {
                    h.clear();
                }
            }
            self.total = Counts::default();
            self.total_hist.clear();
        } else {
            let old = self.index(self.head);
            let b = &self.buckets[old];
            if b.epoch == self.head {
                self.total.add(&b.counts);
                if let Some(h) = &b.hist {
                    self.total_hist.add(h);
                }
            }
            for e in self.head + 1..=epoch {
                let i = self.index(e);
                let b = &mut self.buckets[i];
                if b.epoch != u64::MAX {
                    self.total.sub(&b.counts);
                    if let Some(h) = &mut b.hist {
                        self.total_hist.sub(h);
                        h.clear();
                    }
                    b.counts = Counts::default();
                    b.epoch = u64::MAX;
                }
            }
        }
        self.head = epoch;
        self.head_idx = self.index(epoch);
    }

    #[inline]
    fn record(&mut self, epoch: u64, s: &Sample) {
        self.advance(epoch);
        let c = Counts {
            count: 1,
            errors: s.error as u64,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            rows: s.rows,
            slow: s.slow as u64,
            max_ns: s.dur_ns,
        };
        // An event stamped before the head (recorded late, or ending in an earlier bucket on another
        // thread) goes to its own bucket and, as that bucket is already folded, to the total too;
        // one older than the window counts in the head bucket.
        let n = self.buckets.len() as u64;
        let late = epoch < self.head && epoch + n > self.head;
        let (epoch, i) = if late {
            (epoch, self.index(epoch))
        } else {
            (self.head, self.head_idx)
        };
        let b = &mut self.buckets[i];
        if b.epoch != epoch {
            // An expired slot reused (only possible for a late epoch whose bucket was empty).
            b.epoch = epoch;
            b.counts = Counts::default();
            if let Some(h) = &mut b.hist {
                h.clear();
            }
        }
        b.counts.add(&c);
        b.hist.get_or_insert_with(Histogram::new).record(s.dur_ns);
        if late {
            self.total.add(&c);
            self.total_hist.record_one(s.dur_ns);
        }
    }

    /// Events in the newest `nb` buckets (counters only).
    fn count_in(&mut self, now_epoch: u64, nb: u64) -> u64 {
        self.advance(now_epoch);
        let lo = self.head.saturating_sub(nb.saturating_sub(1));
        self.buckets
            .iter()
            .filter(|b| b.epoch != u64::MAX && b.epoch >= lo && b.epoch <= self.head)
            .map(|b| b.counts.count)
            .sum()
    }

    /// Aggregates the newest `nb` buckets into `into` (cleared first), returning the counts.
    fn window(&mut self, now_epoch: u64, nb: u64, into: &mut Merged) -> Counts {
        self.advance(now_epoch);
        into.clear();
        let n = self.buckets.len() as u64;
        let mut counts = Counts::default();
        if nb >= n {
            // The running total covers the ring but the head bucket; only the max needs a pass.
            counts = self.total;
            let head = &self.buckets[self.index(self.head)];
            if head.epoch == self.head {
                counts.add(&head.counts);
                if let Some(h) = &head.hist {
                    into.add(h);
                }
            }
            counts.max_ns = self
                .buckets
                .iter()
                .map(|b| b.counts.max_ns)
                .max()
                .unwrap_or(0);
            into.add_merged(&self.total_hist);
            return counts;
        }
        let lo = self.head.saturating_sub(nb - 1);
        for b in self.buckets.iter() {
            if b.epoch != u64::MAX && b.epoch >= lo && b.epoch <= self.head {
                counts.add(&b.counts);
                if let Some(h) = &b.hist {
                    into.add(h);
                }
            }
        }
        counts
    }
}

/// A request key: method and route template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ReqKey {
    method: &'static str,
    route: Name,
}

#[derive(Hash)]
struct ReqKeyRef<'a> {
    method: &'a str,
    route: &'a str,
}

impl Equivalent<ReqKey> for ReqKeyRef<'_> {
    fn equivalent(&self, k: &ReqKey) -> bool {
        self.method == k.method && self.route == k.route.as_str()
    }
}

/// A function key: name and module.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FnKey {
    name: Name,
    module: Name,
}

#[derive(Hash)]
struct FnKeyRef<'a> {
    name: &'a str,
    module: &'a str,
}

impl Equivalent<FnKey> for FnKeyRef<'_> {
    fn equivalent(&self, k: &FnKey) -> bool {
        self.name == k.name.as_str() && self.module == k.module.as_str()
    }
}

/// A query key: fingerprint and database system.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DbKey {
    statement: Name,
    system: &'static str,
}

#[derive(Hash)]
struct DbKeyRef<'a> {
    statement: &'a str,
    system: &'a str,
}

impl Equivalent<DbKey> for DbKeyRef<'_> {
    fn equivalent(&self, k: &DbKey) -> bool {
        self.statement == k.statement.as_str() && self.system == k.system
    }
}

type Shared = Arc<Mutex<Series>>;

/// A series held locked by [`StatsStore::record_batch`], with the key it was found by.
type Locked = ([usize; 6], ArcMutexGuard<RawMutex, Series>);

#[derive(Debug)]
struct Keyed<K> {
    map: RwLock<HashMap<K, Shared>>,
    other: Shared,
}

impl<K: Hash + Eq> Keyed<K> {
    fn new(n: usize, epoch: u64) -> Self {
        Keyed {
            map: RwLock::new(HashMap::new()),
            other: Arc::new(Mutex::new(Series::new(n, epoch))),
        }
    }

    /// The series of a key, created if there is room, else `<other>`.
    fn resolve<Q>(&self, q: &Q, make: impl FnOnce() -> K, cfg: &Geometry, epoch: u64) -> Shared
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        {
            let map = self.map.read();
            if let Some(series) = map.get(q) {
                return series.clone();
            }
            if map.len() >= cfg.max_keys {
                return self.other.clone();
            }
        }
        let mut map = self.map.write();
        if map.len() >= cfg.max_keys && map.get(q).is_none() {
            self.other.clone()
        } else {
            map.entry(make())
                .or_insert_with(|| Arc::new(Mutex::new(Series::new(cfg.n, epoch))))
                .clone()
        }
    }

    fn entries(&self) -> Vec<(K, Shared)>
    where
        K: Clone,
    {
        self.map
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A per-thread, direct-mapped cache from a key's storage addresses to its series, so the common
/// case (the same `'static` or shared names again) skips hashing the key's text and the map's lock.
/// Entries hold clones of the names, so their storage cannot be freed and reused while cached.
mod cache {
    use super::Shared;
    use crate::name::Name;
    use std::cell::RefCell;

    const SLOTS: usize = 64;

    pub(super) struct Entry {
        key: [usize; 6],
        _a: Name,
        _b: Name,
        pub(super) series: Shared,
    }

    thread_local! {
        static CACHE: RefCell<[Option<Entry>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
    }

    #[inline(always)]
    pub(super) fn same(a: &[usize; 6], b: &[usize; 6]) -> bool {
        (a[0] ^ b[0])
            | (a[1] ^ b[1])
            | (a[2] ^ b[2])
            | (a[3] ^ b[3])
            | (a[4] ^ b[4])
            | (a[5] ^ b[5])
            == 0
    }

    #[inline]
    fn slot(key: &[usize; 6]) -> usize {
        let h = key.iter().fold(0u64, |h, &k| {
            (h ^ k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        });
        (h >> 58) as usize % SLOTS
    }

    /// The cached series for `key`, or the one `miss` returns (then cached).
    #[inline]
    pub(super) fn series(
        key: [usize; 6],
        names: (&Name, &Name),
        miss: impl FnOnce() -> Shared,
    ) -> Shared {
        let i = slot(&key);
        let hit = CACHE.try_with(|c| {
            let c = c.try_borrow().ok()?;
            match &c[i] {
                Some(e) if same(&e.key, &key) => Some(e.series.clone()),
                _ => None,
            }
        });
        if let Ok(Some(s)) = hit {
            return s;
        }
        let series = miss();
        let _ = CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c[i] = Some(Entry {
                    key,
                    _a: names.0.clone(),
                    _b: names.1.clone(),
                    series: series.clone(),
                });
            }
        });
        series
    }
}

static NEXT_STORE_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

#[derive(Debug, Clone, Copy)]
struct Geometry {
    n: usize,
    bucket_ns: u64,
    max_keys: usize,
    slow_ns: u64,
}

/// Rolling per-key statistics (see the module docs). Reached through [`Spyglass::stats`](crate::Spyglass::stats)
/// or [`spyglass_core::stats()`](crate::stats()).
#[derive(Debug)]
pub struct StatsStore {
    id: usize,
    geo: Geometry,
    service: Arc<str>,
    started_ns: u64,
    requests: Keyed<ReqKey>,
    functions: Keyed<FnKey>,
    queries: Keyed<DbKey>,
    overall: Mutex<Series>,
    collector: Arc<CollectorStats>,
    recent: Arc<crate::recent::Recent>,
}

impl StatsStore {
    pub(crate) fn new(
        cfg: &StatsConfig,
        service: Arc<str>,
        collector: Arc<CollectorStats>,
        recent: Arc<crate::recent::Recent>,
    ) -> Self {
        let bucket_ns = (cfg.bucket.as_nanos() as u64).max(1_000_000);
        let n = (cfg.window.as_nanos() as u64).div_ceil(bucket_ns).max(1) as usize;
        let now = crate::clock::unix_nanos();
        let epoch = now / bucket_ns;
        StatsStore {
            id: NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            geo: Geometry {
                n,
                bucket_ns,
                max_keys: cfg.max_keys.max(1),
                slow_ns: cfg.slow_query.as_nanos() as u64,
            },
            service,
            started_ns: now,
            requests: Keyed::new(n, epoch),
            functions: Keyed::new(n, epoch),
            queries: Keyed::new(n, epoch),
            overall: Mutex::new(Series::new(n, epoch)),
            collector,
            recent,
        }
    }

    /// Counts a batch of events (what the collector's worker does with every batch it pops).
    ///
    /// One pass, keeping each kind's last series locked: a batch interleaves kinds (a request's
    /// function, its query, the request itself), while within one kind consecutive events mostly
    /// share a series, which is then looked up and locked once for the run. Every series still sees
    /// its events in their order. The request-wide series is locked once per batch, before any
    /// other (as [`record`](Self::record) does), so the locks are always taken in one order.
    pub fn record_batch(&self, events: &[Event]) {
        let mut overall: Option<parking_lot::MutexGuard<'_, Series>> = events
            .iter()
            .any(|ev| matches!(ev.kind, EventKind::Req(_)))
            .then(|| self.overall.lock());
        let mut epochs = EpochCache::default();
        let mut last: [Option<Locked>; 3] = [None, None, None];
        for ev in events {
            let k = kind_index(ev);
            let epoch = epochs.epoch(ev.ts_ns + ev.dur_ns, self.geo.bucket_ns);
            let (key, s) = self.key_and_sample(ev);
            if let Some(o) = overall.as_mut().filter(|_| k == KindFilter::Req as usize) {
                o.record(epoch, &s);
            }
            match &mut last[k] {
                Some((held, guard)) if cache::same(held, &key) => guard.record(epoch, &s),
                slot => {
                    // Unlock first: another key of the kind may share the series (`<other>`).
                    drop(slot.take());
                    let mut guard = self.series_of(ev, key, epoch).lock_arc();
                    guard.record(epoch, &s);
                    *slot = Some((key, guard));
                }
            }
        }
    }

    /// Counts one event. The emitter does not call this itself: the collector's worker counts the
    /// events it pops, and a producer counts those the queue turns away.
    pub fn record(&self, ev: &Event) {
        self.record_batch(std::slice::from_ref(ev));
    }

    /// The cache key of an event's series (its store, kind and names' addresses) and what the event
    /// adds to it.
    #[inline]
    fn key_and_sample(&self, ev: &Event) -> ([usize; 6], Sample) {
        let mut s = Sample {
            dur_ns: ev.dur_ns,
            error: ev.is_error(),
            bytes_in: 0,
            bytes_out: 0,
            rows: 0,
            slow: false,
        };
        let (kind, a, b) = match &ev.kind {
            EventKind::Req(r) => {
                s.bytes_in = r.bytes_in;
                s.bytes_out = r.bytes_out;
                (
                    1,
                    r.route.addr(),
                    (r.method.as_ptr() as usize, r.method.len()),
                )
            }
            EventKind::Fn(f) => (2, f.name.addr(), f.module.addr()),
            EventKind::Db(d) => {
                s.rows = d.rows.unwrap_or(0);
                s.slow = ev.dur_ns >= self.geo.slow_ns;
                (
                    3,
                    d.statement.addr(),
                    (d.system.as_ptr() as usize, d.system.len()),
                )
            }
        };
        ([self.id, kind, a.0, a.1, b.0, b.1], s)
    }

    /// The series of an event's key: from the thread's cache, else the map (created if there is
    /// room, else `<other>`).
    fn series_of(&self, ev: &Event, key: [usize; 6], epoch: u64) -> Shared {
        match &ev.kind {
            EventKind::Req(r) => {
                let method = Name::from_static(r.method);
                cache::series(key, (&r.route, &method), || {
                    let q = ReqKeyRef {
                        method: r.method,
                        route: &r.route,
                    };
                    let make = || ReqKey {
                        method: r.method,
                        route: r.route.clone(),
                    };
                    self.requests.resolve(&q, make, &self.geo, epoch)
                })
            }
            EventKind::Fn(f) => cache::series(key, (&f.name, &f.module), || {
                let q = FnKeyRef {
                    name: &f.name,
                    module: &f.module,
                };
                let make = || FnKey {
                    name: f.name.clone(),
                    module: f.module.clone(),
                };
                self.functions.resolve(&q, make, &self.geo, epoch)
            }),
            EventKind::Db(d) => {
                let system = Name::from_static(d.system);
                cache::series(key, (&d.statement, &system), || {
                    let q = DbKeyRef {
                        statement: &d.statement,
                        system: d.system,
                    };
                    let make = || DbKey {
                        statement: d.statement.clone(),
                        system: d.system,
                    };
                    self.queries.resolve(&q, make, &self.geo, epoch)
                })
            }
        }
    }

    /// The longest window the store keeps.
    pub fn max_window(&self) -> Duration {
        Duration::from_nanos(self.geo.bucket_ns * self.geo.n as u64)
    }

    /// Width of one time bucket.
    pub fn bucket(&self) -> Duration {
        Duration::from_nanos(self.geo.bucket_ns)
    }

    /// The newest bucket's epoch at `now`, the number of buckets `window` covers, and the seconds a
    /// rate over them divides by (see [`rate_secs`]).
    fn window_geometry(&self, window: Duration, now: u64) -> (u64, u64, f64) {
        let epoch = now / self.geo.bucket_ns;
        let nb = (window.as_nanos() as u64)
            .div_ceil(self.geo.bucket_ns)
            .clamp(1, self.geo.n as u64);
        let rate_secs = rate_secs(nb, self.geo.bucket_ns, now, self.started_ns);
        (epoch, nb, rate_secs)
    }

    /// Lets the collector's worker count the events still queued: asks it to and waits at most
    /// `timeout` for it. A zero `timeout` only asks, and returns at once: the worker catches up
    /// while the caller goes on, and the caller's next read sees it. Returns whether it caught up.
    ///
    /// [`snapshot`](Self::snapshot) and [`timeseries`](Self::timeseries) sync (waiting up to
    /// 250 ms) before they read; a reader on an async executor thread, which must not wait that
    /// long, syncs with a short `timeout` here and reads with
    /// [`snapshot_unsynced`](Self::snapshot_unsynced) and
    /// [`timeseries_unsynced`](Self::timeseries_unsynced).
    pub fn sync_within(&self, timeout: Duration) -> bool {
        self.collector.sync_within(timeout)
    }

    /// A snapshot of every key over the newest `window` (rounded up to whole buckets, capped at
    /// [`max_window`](Self::max_window)); rows sorted by count, largest first.
    ///
    /// It first lets the collector's worker count the events still queued (waiting at most 250 ms
    /// if the worker is busy in a slow exporter), so it covers every event emitted before the call.
    pub fn snapshot(&self, window: Duration) -> StatsSnapshot {
        self.collector.sync();
        self.snapshot_unsynced(window)
    }

    /// As [`snapshot`](Self::snapshot), from what the store holds now, without waiting for the
    /// collector's worker: events still queued are not counted yet (see
    /// [`sync_within`](Self::sync_within)).
    pub fn snapshot_unsynced(&self, window: Duration) -> StatsSnapshot {
        self.snapshot_at(window, crate::clock::unix_nanos())
    }

    /// The snapshot over `window` as of `now` (ns since the Unix epoch).
    fn snapshot_at(&self, window: Duration, now: u64) -> StatsSnapshot {
        let (epoch, nb, rate_secs) = self.window_geometry(window, now);
        let mut merged = Merged::new();
        // The request-wide series stays locked until the routes are read, so that no batch is
        // counted in between and the routes add up to it. The locks are taken in `record_batch`'s
        // order: the request-wide series, then the routes' map and series (and a batch that adds
        // a route holds the request-wide series, so no writer waits on that map meanwhile).
        let mut overall_series = self.overall.lock();
        let overall = {
            let c = overall_series.window(epoch, nb, &mut merged);
            OverallStats::of(c, &merged, rate_secs)
        };
        let mut requests = Vec::new();
        let mut each = |series: &Shared, f: &mut dyn FnMut(Counts, &Merged)| {
            let c = series.lock().window(epoch, nb, &mut merged);
            if c.count > 0 {
                f(c, &merged);
            }
        };
        let req_keys = self.requests.entries();
        let other_req = ReqKey {
            method: "_OTHER",
            route: Name::from_static(OTHER),
        };
        for (k, s) in req_keys
            .iter()
            .map(|(k, s)| (k, s))
            .chain(std::iter::once((&other_req, &self.requests.other)))
        {
            each(s, &mut |c, m| {
                let o = OverallStats::of(c, m, rate_secs);
                requests.push(RequestStats {
                    method: k.method,
                    route: k.route.clone(),
                    count: o.count,
                    errors: o.errors,
                    error_rate: o.error_rate,
                    rps: o.rps,
                    p50_ms: o.p50_ms,
                    p90_ms: o.p90_ms,
                    p95_ms: o.p95_ms,
                    p99_ms: o.p99_ms,
                    max_ms: o.max_ms,
                    bytes_in: o.bytes_in,
                    bytes_out: o.bytes_out,
                })
            });
        }
        drop(overall_series);
        let mut functions = Vec::new();
        let other_fn = FnKey {
            name: Name::from_static(OTHER),
            module: Name::from_static(""),
        };
        for (k, s) in self
            .functions
            .entries()
            .iter()
            .map(|(k, s)| (k, s))
            .chain(std::iter::once((&other_fn, &self.functions.other)))
        {
            each(s, &mut |c, m| {
                functions.push(FunctionStats {
                    name: k.name.clone(),
                    module: k.module.clone(),
                    count: c.count,
                    errors: c.errors,
                    error_rate: c.errors as f64 / c.count as f64,
                    p50_ms: ms(m.quantile(0.50, c.max_ns)),
                    p90_ms: ms(m.quantile(0.90, c.max_ns)),
                    p95_ms: ms(m.quantile(0.95, c.max_ns)),
                    p99_ms: ms(m.quantile(0.99, c.max_ns)),
                    max_ms: ms(c.max_ns),
                })
            });
        }
        let mut queries = Vec::new();
        let other_db = DbKey {
            statement: Name::from_static(OTHER),
            system: "other_sql",
        };
        for (k, s) in self
            .queries
            .entries()
            .iter()
            .map(|(k, s)| (k, s))
            .chain(std::iter::once((&other_db, &self.queries.other)))
        {
            each(s, &mut |c, m| {
                queries.push(QueryStats {
                    statement: k.statement.clone(),
                    system: k.system,
                    count: c.count,
                    errors: c.errors,
                    rows: c.rows,
                    slow: c.slow,
                    p50_ms: ms(m.quantile(0.50, c.max_ns)),
                    p90_ms: ms(m.quantile(0.90, c.max_ns)),
                    p95_ms: ms(m.quantile(0.95, c.max_ns)),
                    p99_ms: ms(m.quantile(0.99, c.max_ns)),
                    max_ms: ms(c.max_ns),
                })
            });
        }
        requests.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.route.cmp(&b.route)));
        functions.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        queries.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.statement.cmp(&b.statement))
        });
        StatsSnapshot {
            service: self.service.clone(),
            window_secs: (nb * self.geo.bucket_ns) / 1_000_000_000,
            generated_at_ms: now / 1_000_000,
            overall,
            requests,
            functions,
            queries,
            n_plus_one: self
                .recent
                .n_plus_one((now / 1_000_000).saturating_sub(nb * self.geo.bucket_ns / 1_000_000)),
            collector: self.collector.snapshot(),
        }
    }

    /// Per-bucket throughput, errors and latency percentiles over `window`: overall, and for the
    /// `top_routes` busiest routes.
    ///
    /// Like [`snapshot`](Self::snapshot), it first lets the collector's worker count the events
    /// still queued.
    pub fn timeseries(&self, window: Duration, top_routes: usize) -> Timeseries {
        self.collector.sync();
        self.timeseries_unsynced(window, top_routes)
    }

    /// As [`timeseries`](Self::timeseries), from what the store holds now, without waiting for the
    /// collector's worker (see [`sync_within`](Self::sync_within)).
    pub fn timeseries_unsynced(&self, window: Duration, top_routes: usize) -> Timeseries {
        self.timeseries_at(window, top_routes, crate::clock::unix_nanos())
    }

    /// The timeseries over `window` as of `now` (ns since the Unix epoch).
    fn timeseries_at(&self, window: Duration, top_routes: usize, now: u64) -> Timeseries {
        let (epoch, nb, _) = self.window_geometry(window, now);
        let bucket_secs = self.geo.bucket_ns as f64 / 1e9;
        // The newest bucket is still filling: its rate divides by the time it has covered; the
        // one the store started in, by the time since the start.
        let geo = PointGeometry {
            bucket_ns: self.geo.bucket_ns,
            newest_secs: rate_secs(1, self.geo.bucket_ns, now, self.started_ns),
            started_ns: self.started_ns,
        };
        let overall = points(&mut self.overall.lock(), epoch, nb, geo);
        // Rank routes by their count in the window (cheap: counters only), then build points for
        // the busiest few.
        let mut ranked: Vec<(u64, ReqKey, Shared)> = self
            .requests
            .entries()
            .into_iter()
            .map(|(k, s)| {
                let c = s.lock().count_in(epoch, nb);
                (c, k, s)
            })
            .filter(|(c, _, _)| *c > 0)
            .collect();
        ranked.sort_by_key(|r| std::cmp::Reverse(r.0));
        ranked.truncate(top_routes);
        let routes: Vec<RouteSeries> = ranked
            .into_iter()
            .map(|(_, k, s)| RouteSeries {
                method: k.method,
                route: k.route,
                points: points(&mut s.lock(), epoch, nb, geo),
            })
            .collect();
        Timeseries {
            window_secs: (nb * self.geo.bucket_ns) / 1_000_000_000,
            bucket_secs,
            generated_at_ms: now / 1_000_000,
            overall,
            routes,
        }
    }

    /// Number of distinct keys per kind (requests, functions, queries), not counting `<other>`.
    pub fn key_counts(&self) -> (usize, usize, usize) {
        self.collector.sync();
        (
            self.requests.map.read().len(),
            self.functions.map.read().len(),
            self.queries.map.read().len(),
        )
    }
}

/// The slow path of a record: one closure per kind, chosen without boxing.
/// The bucket epoch of the last timestamp seen, so a batch divides once per bucket rather than once
/// per event.
#[derive(Default)]
struct EpochCache {
    lo: u64,
    hi: u64,
    epoch: u64,
}

impl EpochCache {
    #[inline]
    fn epoch(&mut self, ns: u64, bucket_ns: u64) -> u64 {
        if ns < self.lo || ns >= self.hi {
            self.epoch = ns / bucket_ns;
            self.lo = self.epoch * bucket_ns;
            self.hi = self.lo.saturating_add(bucket_ns);
        }
        self.epoch
    }
}

/// The buckets' length, the seconds the newest one has covered so far (see [`rate_secs`]), and
/// when the store started (the bucket holding that instant covered only its part after it).
#[derive(Clone, Copy)]
struct PointGeometry {
    bucket_ns: u64,
    newest_secs: f64,
    started_ns: u64,
}

impl PointGeometry {
    /// The seconds the rate of the bucket of epoch `e`, `back` buckets before the newest, divides
    /// by: the newest one's time so far, the part of the one the store started in after the start,
    /// else the whole bucket. At least a second (or the bucket, if shorter), as in [`rate_secs`].
    fn secs(&self, e: u64, back: u64) -> f64 {
        if back == 0 {
            return self.newest_secs;
        }
        let start = e * self.bucket_ns;
        let end = start.saturating_add(self.bucket_ns);
        let covered = if self.started_ns > start && self.started_ns < end {
            end - self.started_ns
        } else {
            self.bucket_ns
        };
        covered.max(self.bucket_ns.min(1_000_000_000)) as f64 / 1e9
    }
}

fn points(s: &mut Series, epoch: u64, nb: u64, geo: PointGeometry) -> Vec<Point> {
    s.advance(epoch);
    let n = s.buckets.len() as u64;
    let mut m = Merged::new();
    let bucket_ns = geo.bucket_ns;
    (0..nb)
        .rev()
        .map(|back| {
            let e = epoch.saturating_sub(back);
            let b = &s.buckets[(e % n) as usize];
            let mut p = Point {
                ts_ms: e * bucket_ns / 1_000_000,
                ..Point::default()
            };
            if b.epoch == e {
                m.clear();
                if let Some(h) = &b.hist {
                    m.add(h);
                }
                let c = b.counts;
                p.count = c.count;
                p.errors = c.errors;
                p.rps = c.count as f64 / geo.secs(e, back);
                p.p50_ms = ms(m.quantile(0.50, c.max_ns));
                p.p95_ms = ms(m.quantile(0.95, c.max_ns));
                p.p99_ms = ms(m.quantile(0.99, c.max_ns));
                p.max_ms = ms(c.max_ns);
            }
            p
        })
        .collect()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The seconds a rate over the newest `nb` buckets divides by at `now` (ns since the Unix epoch):
/// the time those buckets have covered so far, `nb - 1` whole ones and the newest up to `now` (it
/// is still filling), but no longer than the store has been up (since `started_ns`). At least a
/// second (or the whole window, if shorter), so that a read just after a bucket boundary of a
/// one-bucket window does not divide by almost nothing.
fn rate_secs(nb: u64, bucket_ns: u64, now: u64, started_ns: u64) -> f64 {
    let into_newest = now % bucket_ns;
    let covered = (nb - 1) * bucket_ns + into_newest;
    let up = now.saturating_sub(started_ns);
    let floor = (nb * bucket_ns).min(1_000_000_000);
    covered.min(up).max(floor) as f64 / 1e9
}

/// A snapshot of all stats over a window; its JSON form is `/_spyglass/api/stats` (SPEC §6).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Service name.
    pub service: Arc<str>,
    /// Window covered, seconds.
    pub window_secs: u64,
    /// When the snapshot was taken, ms since the Unix epoch.
    pub generated_at_ms: u64,
    /// All requests together: the service's throughput, error rate and latency percentiles over
    /// the window (percentiles of every request, not a mix of the routes' own).
    pub overall: OverallStats,
    /// Per method and route template.
    pub requests: Vec<RequestStats>,
    /// Per instrumented function.
    pub functions: Vec<FunctionStats>,
    /// Per query fingerprint.
    pub queries: Vec<QueryStats>,
    /// Queries repeated within one request (N+1 patterns) seen in the window.
    pub n_plus_one: Vec<crate::recent::NPlusOne>,
    /// Collector health.
    pub collector: CollectorSnapshot,
}

/// One route's figures. Durations in milliseconds.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RequestStats {
    /// HTTP method.
    pub method: &'static str,
    /// Route template.
    pub route: Name,
    /// Requests in the window.
    pub count: u64,
    /// Requests that were errors (5xx or panic).
    pub errors: u64,
    /// `errors / count`.
    pub error_rate: f64,
    /// Requests per second over the window.
    pub rps: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile latency.
    pub p90_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
}

/// Every request of the window together. Durations in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct OverallStats {
    /// Requests in the window.
    pub count: u64,
    /// Requests that were errors (5xx or panic).
    pub errors: u64,
    /// `errors / count` (0 without requests).
    pub error_rate: f64,
    /// Requests per second over the window.
    pub rps: f64,
    /// Median latency of all requests.
    pub p50_ms: f64,
    /// 90th percentile latency of all requests.
    pub p90_ms: f64,
    /// 95th percentile latency of all requests.
    pub p95_ms: f64,
    /// 99th percentile latency of all requests.
    pub p99_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
}

impl OverallStats {
    /// The figures of window counts `c` whose histograms are merged in `m`, a rate over
    /// `rate_secs`: the service's, or one route's.
    fn of(c: Counts, m: &Merged, rate_secs: f64) -> Self {
        OverallStats {
            count: c.count,
            errors: c.errors,
            error_rate: if c.count == 0 {
                0.0
            } else {
                c.errors as f64 / c.count as f64
            },
            rps: c.count as f64 / rate_secs,
            p50_ms: ms(m.quantile(0.50, c.max_ns)),
            p90_ms: ms(m.quantile(0.90, c.max_ns)),
            p95_ms: ms(m.quantile(0.95, c.max_ns)),
            p99_ms: ms(m.quantile(0.99, c.max_ns)),
            max_ms: ms(c.max_ns),
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
        }
    }
}

/// One function's figures. Durations in milliseconds.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FunctionStats {
    /// Function name.
    pub name: Name,
    /// Module path.
    pub module: Name,
    /// Calls in the window.
    pub count: u64,
    /// Calls that failed.
    pub errors: u64,
    /// `errors / count`.
    pub error_rate: f64,
    /// Median duration.
    pub p50_ms: f64,
    /// 90th percentile duration.
    pub p90_ms: f64,
    /// 95th percentile duration.
    pub p95_ms: f64,
    /// 99th percentile duration.
    pub p99_ms: f64,
    /// Slowest call.
    pub max_ms: f64,
}

/// One query fingerprint's figures. Durations in milliseconds.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct QueryStats {
    /// Redacted statement.
    pub statement: Name,
    /// Database system (`db.system.name`).
    pub system: &'static str,
    /// Executions in the window.
    pub count: u64,
    /// Executions that failed.
    pub errors: u64,
    /// Rows returned or affected, summed.
    pub rows: u64,
    /// Executions at least as slow as the slow-query threshold.
    pub slow: u64,
    /// Median duration.
    pub p50_ms: f64,
    /// 90th percentile duration.
    pub p90_ms: f64,
    /// 95th percentile duration.
    pub p95_ms: f64,
    /// 99th percentile duration.
    pub p99_ms: f64,
    /// Slowest execution.
    pub max_ms: f64,
}

/// Collector health counters.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectorSnapshot {
    /// Events offered to the queue.
    pub emitted: u64,
    /// Events handed to the exporters.
    pub exported: u64,
    /// Events dropped (oldest first when the queue was full, or emitted after shutdown).
    pub dropped: u64,
    /// Events waiting in the queue now.
    pub queue_depth: u64,
    /// Queue capacity.
    pub queue_capacity: u64,
    /// Failed exporter calls.
    pub export_errors: u64,
}

/// Per-bucket series for charts (`/_spyglass/api/timeseries`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Timeseries {
    /// Window covered, seconds.
    pub window_secs: u64,
    /// Width of one point, seconds.
    pub bucket_secs: f64,
    /// When it was taken, ms since the Unix epoch.
    pub generated_at_ms: u64,
    /// All requests together.
    pub overall: Vec<Point>,
    /// The busiest routes.
    pub routes: Vec<RouteSeries>,
}

/// One route's points.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RouteSeries {
    /// HTTP method.
    pub method: &'static str,
    /// Route template.
    pub route: Name,
    /// One point per bucket, oldest first.
    pub points: Vec<Point>,
}

/// One bucket's figures. Durations in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Point {
    /// Bucket start, ms since the Unix epoch.
    pub ts_ms: u64,
    /// Requests.
    pub count: u64,
    /// Errors.
    pub errors: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    /// A store of its own (no collector worker), up since `started_ns`.
    fn store(started_ns: u64) -> StatsStore {
        let mut s = StatsStore::new(
            &StatsConfig::default(),
            "t".into(),
            Arc::new(CollectorStats::new(16, 8)),
            Arc::new(crate::recent::Recent::new(5)),
        );
        s.started_ns = started_ns;
        s
    }

    /// `route` requests at `per_sec` a second, each 1 ms long, the last ending just before `now`,
    /// over the `secs` seconds before it.
    fn steady(route: &'static str, per_sec: u64, secs: u64, now: u64) -> Vec<Event> {
        let gap = SEC / per_sec;
        (0..per_sec * secs)
            .map(|i| {
                let mut ev = Event::request("GET", route, 200, 1_000_000);
                ev.ts_ns = now - i * gap - 1 - ev.dur_ns;
                ev
            })
            .collect()
    }

    /// Now's wall-clock time moved to `secs` seconds into its 10 s stats bucket, so a test knows
    /// how much of the newest bucket has passed.
    fn into_bucket(secs: u64) -> u64 {
        let wall = crate::clock::unix_nanos();
        (wall / (10 * SEC)) * 10 * SEC + secs * SEC
    }

    #[test]
    fn a_rate_divides_by_the_time_its_buckets_have_covered() {
        let b = 10 * SEC;
        let at = 1_000_000 * b;
        // Six buckets, 1 s into the newest: 51 s covered, not 60.
        assert_eq!(rate_secs(6, b, at + SEC, 0), 51.0);
        assert_eq!(rate_secs(6, b, at + 9 * SEC, 0), 59.0);
        // No longer than the store has been up, and never less than a second.
        assert_eq!(rate_secs(6, b, at + SEC, at - 20 * SEC), 21.0);
        assert_eq!(rate_secs(1, b, at + 1_000, 0), 1.0);
        assert_eq!(rate_secs(6, b, at + SEC, at + SEC - 5), 1.0);
        // A window shorter than a second is the floor itself.
        assert_eq!(rate_secs(1, SEC / 2, at + 7, 0), 0.5);
    }

    #[test]
    fn steady_traffic_reads_its_rate_just_after_a_bucket_boundary() {
        // 100 requests a second for the last 70 s, read 1 s after a bucket boundary: the 1-minute
        // window's newest bucket holds one second of them. Dividing by the full 60 s read 85.
        let now = into_bucket(1);
        let s = store(now - 3600 * SEC);
        s.record_batch(&steady("/a", 100, 70, now));
        let snap = s.snapshot_at(Duration::from_secs(60), now);
        let r = &snap.requests[0];
        assert_eq!(r.count, 5_100);
        assert!((r.rps - 100.0).abs() < 1e-9, "{}", r.rps);
        assert_eq!(snap.overall.count, 5_100);
        assert!(
            (snap.overall.rps - 100.0).abs() < 1e-9,
            "{}",
            snap.overall.rps
        );

        // A process up for 20 s divides by those 20 s.
        let young = store(now - 20 * SEC);
        young.record_batch(&steady("/a", 100, 20, now));
        let snap = young.snapshot_at(Duration::from_secs(60), now);
        assert_eq!(snap.requests[0].count, 2_000);
        assert!((snap.requests[0].rps - 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_newest_points_rate_divides_by_the_time_it_has_covered() {
        // 100 requests a second, read 4 s into the newest bucket: it holds 400, at 100 a second;
        // the full buckets before it read 100 too.
        let now = into_bucket(4);
        let s = store(now - 3600 * SEC);
        s.record_batch(&steady("/a", 100, 34, now));
        let ts = s.timeseries_at(Duration::from_secs(60), 1, now);
        let newest = ts.overall.last().unwrap();
        assert_eq!(newest.count, 400);
        assert!((newest.rps - 100.0).abs() < 1e-9, "{}", newest.rps);
        let full = &ts.overall[ts.overall.len() - 2];
        assert_eq!(full.count, 1_000);
        assert!((full.rps - 100.0).abs() < 1e-9, "{}", full.rps);
        let route = ts.routes[0].points.last().unwrap();
        assert!((route.rps - 100.0).abs() < 1e-9, "{}", route.rps);
    }

    #[test]
    fn overall_percentiles_are_those_of_every_request() {
        // 980 requests of 1 ms on one route and 20 of 100 ms on another: the service's p95 is
        // 1 ms and its p99 100 ms (the slow route's p95 is 100 ms, the mean of the medians 2.98).
        let wall = crate::clock::unix_nanos();
        let s = store(wall - 3600 * SEC);
        let mut events = Vec::new();
        for i in 0..1_000u64 {
            let (route, dur, status) = if i % 50 == 0 {
                ("/slow", 100_000_000, 500)
            } else {
                ("/fast", 1_000_000, 200)
            };
            let mut ev = Event::request("GET", route, status, dur);
            ev.ts_ns = wall - SEC - dur;
            events.push(ev);
        }
        s.record_batch(&events);
        let o = s.snapshot_at(Duration::from_secs(60), wall).overall;
        assert_eq!((o.count, o.errors), (1_000, 20));
        assert!((o.error_rate - 0.02).abs() < 1e-12);
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.0625;
        assert!(near(o.p50_ms, 1.0), "p50 {}", o.p50_ms);
        assert!(near(o.p90_ms, 1.0), "p90 {}", o.p90_ms);
        assert!(near(o.p95_ms, 1.0), "p95 {}", o.p95_ms);
        assert!(near(o.p99_ms, 100.0), "p99 {}", o.p99_ms);
        assert_eq!(o.max_ms, 100.0);
    }

    #[test]
    fn the_bucket_a_young_process_started_in_divides_by_the_time_it_was_up() {
        // Up for 25 s, read 4 s into the newest bucket: it started 1 s before the end of the
        // oldest bucket with events, which holds that one second's 100 requests. Dividing by the
        // full 10 s read 10 a second.
        let now = into_bucket(4);
        let s = store(now - 25 * SEC);
        s.record_batch(&steady("/a", 100, 25, now));
        let ts = s.timeseries_at(Duration::from_secs(60), 1, now);
        for series in [&ts.overall, &ts.routes[0].points] {
            let first = series.iter().find(|p| p.count > 0).unwrap();
            assert_eq!(first.count, 100);
            assert!((first.rps - 100.0).abs() < 1e-9, "{}", first.rps);
            // Every point reads the steady rate.
            for p in series.iter().filter(|p| p.count > 0) {
                assert!((p.rps - 100.0).abs() < 1e-9, "{:?}", p);
            }
        }

        // Started a tenth of a second before a bucket's end: that bucket divides by the 1 s floor.
        let started = now - 14 * SEC - SEC / 10;
        let s = store(started);
        s.record_batch(&steady("/a", 100, 14, now));
        let mut ev = Event::request("GET", "/a", 200, 1_000_000);
        ev.ts_ns = started + SEC / 20 - ev.dur_ns;
        s.record_batch(&[ev]);
        let ts = s.timeseries_at(Duration::from_secs(60), 1, now);
        let first = ts.overall.iter().find(|p| p.count > 0).unwrap();
        assert_eq!(first.count, 1);
        assert!((first.rps - 1.0).abs() < 1e-9, "{}", first.rps);
    }

    #[test]
    fn routes_add_up_to_the_overall_count_while_recording() {
        // Threads record requests on several routes while snapshots are read: every snapshot's
        // routes add up to its overall count.
        use std::sync::atomic::{AtomicBool, Ordering};
        let now = into_bucket(5);
        let s = Arc::new(store(now - 3600 * SEC));
        let stop = Arc::new(AtomicBool::new(false));
        let routes: [&'static str; 4] = ["/a", "/b", "/c", "/d"];
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (s, stop) = (s.clone(), stop.clone());
                std::thread::spawn(move || {
                    let batch: Vec<Event> = (0..8)
                        .map(|i| {
                            let mut ev = Event::request("GET", routes[(t + i) % 4], 200, 1_000_000);
                            ev.ts_ns = now - SEC;
                            ev
                        })
                        .collect();
                    while !stop.load(Ordering::Relaxed) {
                        s.record_batch(&batch);
                    }
                })
            })
            .collect();
        let mut mismatched = 0;
        for _ in 0..1_000 {
            let snap = s.snapshot_at(Duration::from_secs(60), now);
            let sum: u64 = snap.requests.iter().map(|r| r.count).sum();
            if sum != snap.overall.count {
                mismatched += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        let snap = s.snapshot_at(Duration::from_secs(60), now);
        assert!(snap.overall.count > 0);
        assert_eq!(mismatched, 0, "of 1000 reads");
    }
}
