//! The flight recorder: recent events, recent errors and recent whole traces, for the dashboard.
//!
//! Fed by the collector thread one batch at a time (one lock per batch, never per event on the
//! application's threads). Everything is bounded: fixed-size rings, a capped set of traces being
//! assembled, and a small set of finished traces where the slowest and the failed ones are kept in
//! preference to the merely recent.
//!
//! The newest batches are held whole, as the collector handed them over. A trace being assembled
//! counts its spans but does not copy them: only a trace kept when its root comes (failed, among the
//! slowest, or due as a recent one, at most one per 1/64 s) has its spans copied, read back from the
//! batches held. The newest traces are assembled from those batches when they are listed. A span
//! whose batch is let go while its trace is still open is copied then.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use spyglass_core::Spyglass;
//!
//! let sg = Spyglass::builder().build().unwrap();
//! sg.emitter().emit_req("GET", "/", 500, Duration::from_millis(3));
//! sg.flush(Duration::from_secs(5));
//! assert_eq!(sg.recent().errors(10).len(), 1);
//! ```

use std::collections::VecDeque;

use hashbrown::HashMap;

use parking_lot::Mutex;

use crate::context::{SpanId, TraceId};
use crate::event::{Event, EventKind};
use crate::name::Name;

const EVENTS_PER_KIND: usize = 512;
/// Whole batches kept as the collector handed them over (moved, not copied), newest last. Enough
/// of the default 128-event batches to hold `RETAINED_EVENTS`, so that under load, when batches are
/// full, an even mix of the three kinds keeps more than `EVENTS_PER_KIND` of each in the batches and
/// a batch let go has nothing left to move to the per-kind rings.
const RETAINED_BATCHES: usize = 16;
/// At most this many events in those batches, and room for four times as many (a batch keeps the
/// collector's `batch_max` capacity); beyond either the oldest batch is let go.
const RETAINED_EVENTS: usize = 2048;
const ERRORS: usize = 256;
const PENDING_TRACES: usize = 1024;
const SPANS_PER_TRACE: usize = 512;
const RECENT_TRACES: usize = 64;
/// A trace is kept as a recent one when it ends at least this long after the last one kept (the
/// ring then spans at least a second), or when it is failed, among the slowest, or outlived the
/// batches held. Under load most traces are none of these and are never copied: the newest are
/// assembled from the batches held when they are listed.
const RECENT_SPACING_NS: u64 = 1_000_000_000 / RECENT_TRACES as u64;
const SLOW_TRACES: usize = 32;
/// How long a trace stays among the slowest after it ended: the longest window the dashboard shows,
/// so that the set follows the traffic instead of holding the slowest since start.
const SLOW_TRACE_AGE_NS: u64 = 15 * 60 * 1_000_000_000;
const ERROR_TRACES: usize = 32;

/// Which kind of events to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindFilter {
    /// Requests.
    Req = 0,
    /// Function calls.
    Fn = 1,
    /// Queries.
    Db = 2,
}

/// The index of an event's kind, as [`KindFilter`]'s.
pub(crate) fn kind_index(ev: &Event) -> usize {
    match ev.kind {
        EventKind::Req(_) => KindFilter::Req as usize,
        EventKind::Fn(_) => KindFilter::Fn as usize,
        EventKind::Db(_) => KindFilter::Db as usize,
    }
}

impl KindFilter {
    /// Parses `req`, `fn` or `db`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "req" => Some(KindFilter::Req),
            "fn" => Some(KindFilter::Fn),
            "db" => Some(KindFilter::Db),
            _ => None,
        }
    }
}

/// One finished trace (the local part of it): its root event and every span under it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TraceRecord {
    /// The trace id.
    pub trace_id: TraceId,
    /// The root event of this service's part of the trace (the request, or a root function).
    pub root: Event,
    /// The other events of the trace, in the order they finished.
    pub spans: Vec<Event>,
}

/// What reached the flight recorder after a cursor ([`Recent::since`]).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Since {
    /// The newest events that arrived after the cursor, newest first.
    pub events: Vec<Event>,
    /// The newest errors that arrived after the cursor, newest first.
    pub errors: Vec<Event>,
    /// The cursor of the point of this read: pass it to the next call.
    pub cursor: u64,
}

/// A repeated query inside one request: an N+1 pattern, one per method, route and statement.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct NPlusOne {
    /// HTTP method of the request.
    pub method: &'static str,
    /// Route template of the request.
    pub route: Name,
    /// The repeated statement's fingerprint.
    pub statement: Name,
    /// Database system.
    pub system: &'static str,
    /// Times the statement ran in the latest request where this was found.
    pub count: u64,
    /// Their total duration in that request, milliseconds.
    pub total_ms: f64,
    /// Requests in which it was found since the process started (not only within the window of
    /// the snapshot that lists it: the list holds the findings last seen in that window).
    pub occurrences: u64,
    /// Trace id of the latest such request.
    pub trace_id: TraceId,
    /// Span id of the latest such request: with `trace_id`, it picks that request's trace among
    /// others of the same trace id ([`Recent::trace_with_span`]).
    pub span_id: SpanId,
    /// When it was last seen, ms since the Unix epoch.
    pub last_seen_ms: u64,
}

/// Executions of one statement in one trace.
#[derive(Debug, Clone, Copy)]
struct QueryCount {
    count: u64,
    total_ns: u64,
    system: &'static str,
}

/// Distinct statements a trace's tally keeps in its list before a map takes over.
const TALLY_LIST: usize = 16;

/// The queries of one trace, per statement. A trace runs few distinct statements as a rule, so they
/// are kept in a short list where an interned statement (one shared name) is found by its address,
/// without hashing its text; past [`TALLY_LIST`] distinct ones a map takes the rest. The map is
/// boxed, made only for such a trace, so that a trace being assembled stays small to move.
#[derive(Debug, Default)]
struct QueryTally {
    list: Vec<(Name, QueryCount)>,
    map: Option<Box<HashMap<Name, QueryCount>>>,
}

impl QueryTally {
    fn add(&mut self, statement: &Name, dur_ns: u64, system: &'static str) {
        let addr = statement.addr();
        let listed = self.list.len();
        let found = match self
            .list
            .iter_mut()
            .find(|(s, _)| s.addr() == addr || s == statement)
        {
            Some((_, q)) => Some(q),
            None if listed >= TALLY_LIST => self.map.as_mut().and_then(|m| m.get_mut(statement)),
            None => None,
        };
        match found {
            Some(q) => {
                q.count += 1;
                q.total_ns += dur_ns;
            }
            None => {
                let q = QueryCount {
                    count: 1,
                    total_ns: dur_ns,
                    system,
                };
                if listed < TALLY_LIST {
                    self.list.push((statement.clone(), q));
                } else {
                    self.map
                        .get_or_insert_default()
                        .insert(statement.clone(), q);
                }
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&Name, &QueryCount)> {
        self.list
            .iter()
            .map(|(s, q)| (s, q))
            .chain(self.map.iter().flat_map(|m| m.iter()))
    }

    fn capacity(&self) -> usize {
        self.list.capacity() + self.map.as_ref().map_or(0, |m| m.capacity())
    }

    fn clear(&mut self) {
        self.list.clear();
        if let Some(m) = &mut self.map {
            m.clear();
        }
    }
}

#[derive(Debug)]
struct Pending {
    /// Spans copied out of batches the recorder let go while the trace was still open, oldest
    /// first. The others are read from the batches still held when the root comes, and only if
    /// the trace is kept: most traces are never copied.
    spans: Vec<Event>,
    /// Spans seen, also past the span cap.
    count: usize,
    /// Of those, the ones in batches let go (copied into `spans`, or past the cap).
    gone: usize,
    /// Arrival numbers of the oldest span still only in a held batch (`u64::MAX`: none) and of
    /// the newest span.
    oldest: u64,
    newest: u64,
    /// Whether a span failed.
    failed: bool,
    /// Counted for every query, also past the span cap.
    queries: QueryTally,
    /// Arrival number of the trace's first span: the lowest is evicted first.
    first: u64,
}

impl Pending {
    /// Counts a span of the trace, the event with arrival number `at` that `failed` or not (and
    /// tallies it, if a query).
    #[inline]
    fn add(&mut self, ev: &Event, at: u64, failed: bool) {
        if let EventKind::Db(d) = &ev.kind {
            self.queries.add(&d.statement, ev.dur_ns, d.system);
        }
        self.count += 1;
        self.failed |= failed;
        if self.oldest == u64::MAX {
            self.oldest = at;
        }
        self.newest = at;
    }
}

/// How many emptied span lists and query tallies are kept for reuse, and the largest capacity
/// worth keeping (a trace with more spans than that allocates its own).
const SPARES: usize = 64;
const SPARE_CAPACITY: usize = 64;

const FINDINGS: usize = 256;

/// A batch the recorder holds whole, as the collector handed it over.
#[derive(Debug)]
struct Held {
    events: Vec<Event>,
    /// Its events per kind.
    per_kind: [usize; 3],
    /// The arrival number of its first event.
    first: u64,
}

impl Held {
    /// The arrival number just past its last event.
    fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }
}

#[derive(Debug, Default)]
struct State {
    /// The newest events: the last batches whole, oldest first.
    retained: VecDeque<Held>,
    /// Older events, per kind, with their arrival numbers: those of a batch let go that were
    /// still among the newest `EVENTS_PER_KIND` of their kind. Everything here is older than
    /// everything in `retained`.
    kinds: [Ring<(u64, Event), EVENTS_PER_KIND>; 3],
    /// The newest errors, with their arrival numbers.
    errors: Ring<(u64, Event), ERRORS>,
    pending: HashMap<TraceId, Pending>,
    /// The trace whose span came last, kept out of `pending`: a request's spans and root mostly come
    /// one after the other, and then need no map lookup at all.
    hot: Option<(TraceId, Pending)>,
    /// N+1 findings per method, route and statement.
    findings: HashMap<(&'static str, Name, Name), NPlusOne>,
    n_plus_one_threshold: u64,
    /// Arrival number of the next event ingested.
    arrived: u64,
    /// Scratch list for [`State::evict_oldest`], kept for reuse.
    evict_order: Vec<(u64, TraceId)>,
    /// Traces kept as recent when they ended: at most one per [`RECENT_SPACING_NS`], and every one
    /// that outlived the batches held (it could not be assembled later). The newest are assembled
    /// when listed, from the batches held.
    recent_traces: Ring<TraceRecord, RECENT_TRACES>,
    /// When the newest of `recent_traces` ended (ns since the Unix epoch).
    last_recent_end: u64,
    /// Emptied span lists and query tallies of traces done with, reused for the next ones so that
    /// assembling a trace allocates nothing in the steady state.
    spare_spans: Vec<Vec<Event>>,
    spare_queries: Vec<QueryTally>,
    slow_traces: Vec<TraceRecord>,
    error_traces: Ring<TraceRecord, ERROR_TRACES>,
}

/// The flight recorder (see the module docs).
#[derive(Debug, Default)]
pub struct Recent {
    state: Mutex<State>,
}

/// N+1 threshold used when none is configured.
pub const DEFAULT_N_PLUS_ONE: u64 = 5;

/// A ring of the newest `N` values: once full, a push overwrites the oldest in place.
#[derive(Debug)]
struct Ring<T, const N: usize> {
    buf: Vec<T>,
    /// Where the next push goes once the ring is full (the oldest value).
    next: usize,
}

impl<T, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Ring {
            buf: Vec::new(),
            next: 0,
        }
    }
}

impl<T, const N: usize> Ring<T, N> {
    /// Adds `v` as the newest, returning the oldest when the ring was full.
    #[inline]
    fn push(&mut self, v: T) -> Option<T> {
        if self.buf.len() < N {
            self.buf.push(v);
            None
        } else {
            let old = std::mem::replace(&mut self.buf[self.next], v);
            self.next += 1;
            if self.next == N {
                self.next = 0;
            }
            Some(old)
        }
    }

    /// Oldest to newest.
    fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.buf[self.next..]
            .iter()
            .chain(self.buf[..self.next].iter())
    }
}

impl Recent {
    pub(crate) fn new(n_plus_one_threshold: u64) -> Self {
        let r = Recent::default();
        r.state.lock().n_plus_one_threshold = n_plus_one_threshold.max(2);
        r
    }

    /// N+1 findings last seen since `since_ms` (ms since the Unix epoch), most occurrences (since
    /// start) first.
    pub fn n_plus_one(&self, since_ms: u64) -> Vec<NPlusOne> {
        let st = self.state.lock();
        let mut v: Vec<NPlusOne> = st
            .findings
            .values()
            .filter(|f| f.last_seen_ms >= since_ms)
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            b.occurrences
                .cmp(&a.occurrences)
                .then_with(|| b.count.cmp(&a.count))
        });
        v
    }

    /// Records a batch of events the collector has handled (counted and exported), called by the
    /// collector thread. The batch is kept as the newest events, moved rather than copied, and
    /// `batch` is left empty to fill next (with the capacity of one let go, once the recorder holds
    /// enough).
    ///
    /// A trace's spans are counted (and its queries tallied) as they come, but not copied: when its
    /// root comes, the trace is kept only if it failed, is among the slowest, or is due as a recent
    /// one, and only then are its spans read back from the batch and the batches held. A span whose
    /// batch is let go while its trace is still open is copied then.
    pub(crate) fn ingest(&self, batch: &mut Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if let Some(last) = batch.last() {
            st.age_slow(last.ts_ns + last.dur_ns);
        }
        st.assemble(batch);
        st.hold(batch);
    }

    /// The newest events of kind `k` (at most `EVENTS_PER_KIND`), newest first.
    fn newest(st: &State, k: usize) -> impl Iterator<Item = &Event> {
        st.retained
            .iter()
            .rev()
            .flat_map(|h| h.events.iter().rev())
            .filter(move |ev| kind_index(ev) == k)
            .chain(st.kinds[k].iter().rev().map(|(_, ev)| ev))
            .take(EVENTS_PER_KIND)
    }

    /// What arrived since `cursor`: the newest `limit` events (of every kind) and the newest
    /// `limit` errors that the collector handed over after the point `cursor` marks, newest first
    /// by arrival, and the cursor of the point now. Cursor 0 is the start: the newest of all.
    ///
    /// A reader that follows the recorder (the dashboard's live stream) keeps the cursor between
    /// calls, and so misses nothing that is still held, whatever the events' timestamps: events
    /// reach the recorder in the order they were queued, which is not quite that of their end
    /// times (a producer is preempted between stamping an event and queueing it; an integration
    /// emits an event it stamped earlier).
    ///
    /// `limit` is at most 512, the events the recorder keeps per kind past its held batches (a
    /// larger one is read as 512).
    pub fn since(&self, cursor: u64, limit: usize) -> Since {
        let limit = limit.min(EVENTS_PER_KIND);
        let st = self.state.lock();
        let mut events: Vec<Event> = Vec::new();
        // The batches held, newest first, then the per-kind rings (all older), merged by arrival.
        'held: for h in st.retained.iter().rev() {
            for (i, ev) in h.events.iter().enumerate().rev() {
                if h.first + (i as u64) < cursor || events.len() == limit {
                    break 'held;
                }
                events.push(ev.clone());
            }
        }
        let reaches_back = st.retained.front().is_none_or(|h| h.first <= cursor);
        if events.len() < limit && !reaches_back {
            let mut older: Vec<&(u64, Event)> = st
                .kinds
                .iter()
                .flat_map(|ring| ring.iter().rev().take_while(|(at, _)| *at >= cursor))
                .collect();
            older.sort_unstable_by_key(|(at, _)| std::cmp::Reverse(*at));
            let room = limit - events.len();
            events.extend(older.into_iter().take(room).map(|(_, ev)| ev.clone()));
        }
        let errors = st
            .errors
            .iter()
            .rev()
            .take_while(|(at, _)| *at >= cursor)
            .take(limit)
            .map(|(_, ev)| ev.clone())
            .collect();
        Since {
            events,
            errors,
            cursor: st.arrived,
        }
    }

    /// The newest `limit` events, newest first, optionally of one kind.
    pub fn events(&self, kind: Option<KindFilter>, limit: usize) -> Vec<Event> {
        let st = self.state.lock();
        match kind {
            Some(k) => Self::newest(&st, k as usize).take(limit).cloned().collect(),
            None => {
                let mut all: Vec<Event> =
                    (0..3).flat_map(|k| Self::newest(&st, k)).cloned().collect();
                all.sort_by_key(|e| std::cmp::Reverse(e.ts_ns + e.dur_ns));
                all.truncate(limit);
                all
            }
        }
    }

    /// The newest `limit` errors, newest first.
    pub fn errors(&self, limit: usize) -> Vec<Event> {
        self.state
            .lock()
            .errors
            .iter()
            .rev()
            .take(limit)
            .map(|(_, ev)| ev.clone())
            .collect()
    }

    /// Finished traces kept for the request detail view: failed, slowest and most recent, without
    /// duplicates, newest first within each group.
    pub fn traces(&self) -> Vec<TraceRecord> {
        let st = self.state.lock();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        // The most recent: those kept as they ended, those still whole in the batches held, and
        // requests without spans (kept only in the request ring), newest first.
        let mut recent: Vec<TraceRecord> = st.recent_traces.iter().rev().cloned().collect();
        recent.extend(st.held_traces(RECENT_TRACES, None));
        recent.extend(
            Self::newest(&st, KindFilter::Req as usize)
                .take(RECENT_TRACES)
                .map(|ev| TraceRecord {
                    trace_id: ev.trace_id,
                    root: ev.clone(),
                    spans: Vec::new(),
                }),
        );
        // Newest first; a trace listed several ways (same root, same end) keeps the first listing:
        // the one kept as it ended has the spans of batches let go, and a request's own event none.
        recent.sort_by_key(|t| std::cmp::Reverse(t.root.ts_ns + t.root.dur_ns));
        recent.dedup_by_key(|t| (t.trace_id, t.root.span_id));
        recent.truncate(RECENT_TRACES);
        for t in st
            .error_traces
            .iter()
            .rev()
            .chain(st.slow_traces.iter())
            .cloned()
            .chain(recent)
        {
            if seen.insert((t.trace_id, t.root.span_id)) {
                out.push(t);
            }
        }
        out
    }

    /// One trace by id: a kept one, or one whose root is still among the newest events.
    ///
    /// Several requests of this service can share a trace id (an upstream service that calls it
    /// twice in one trace, a client's retries); this is the first listed of them. Use
    /// [`Recent::trace_with_span`] to pick one.
    pub fn trace(&self, id: TraceId) -> Option<TraceRecord> {
        if let Some(t) = self.traces().into_iter().find(|t| t.trace_id == id) {
            return Some(t);
        }
        self.state.lock().held_traces(1, Some(id)).pop()
    }

    /// The trace `id` of the request (or root function) whose span is `span`, or else the one
    /// `span` ran under: a kept one, or one whose root is still among the newest events. Several
    /// requests of this service can share a trace id; their root spans tell them apart.
    pub fn trace_with_span(&self, id: TraceId, span: SpanId) -> Option<TraceRecord> {
        let holds = |t: &TraceRecord| t.spans.iter().any(|ev| ev.span_id == span);
        let mut traces = self.traces();
        traces.retain(|t| t.trace_id == id);
        let found = match traces.iter().position(|t| t.root.span_id == span) {
            Some(i) => Some(i),
            None => traces.iter().position(holds),
        };
        if let Some(i) = found {
            return Some(traces.swap_remove(i));
        }
        self.state
            .lock()
            .held_traces(usize::MAX, Some(id))
            .into_iter()
            .find(|t| t.root.span_id == span || holds(t))
    }
}

/// Whether `ev` roots this service's part of its trace: a request, or an event with no parent.
#[inline]
fn is_root(ev: &Event) -> bool {
    matches!(ev.kind, EventKind::Req(_)) || ev.parent_span_id.is_none()
}

impl State {
    /// Whether `id` is the hot trace.
    #[inline]
    fn is_hot(&self, id: &TraceId) -> bool {
        self.hot.as_ref().is_some_and(|(h, _)| h == id)
    }

    /// Trace `id`, if being assembled.
    #[inline]
    fn pending_mut(&mut self, id: &TraceId) -> Option<&mut Pending> {
        if self.is_hot(id) {
            return self.hot.as_mut().map(|(_, p)| p);
        }
        self.pending.get_mut(id)
    }

    /// Every trace being assembled.
    fn pending_all(&self) -> impl Iterator<Item = &Pending> {
        self.pending.values().chain(self.hot.iter().map(|(_, p)| p))
    }

    /// Counts the batch's spans into the traces being assembled and finishes those whose root it
    /// holds (see [`Recent::ingest`]).
    fn assemble(&mut self, batch: &[Event]) {
        let first = self.arrived;
        self.arrived += batch.len() as u64;
        for (i, ev) in batch.iter().enumerate() {
            let failed = ev.is_error();
            let at = first + i as u64;
            if failed {
                self.errors.push((at, ev.clone()));
            }
            if is_root(ev) {
                self.finish_root(batch, i, failed);
                continue;
            }
            // A trace already being assembled: the hot one, or one lookup.
            if let Some(p) = self.pending_mut(&ev.trace_id) {
                p.add(ev, at, failed);
                continue;
            }
            // A new one: make room, then start it with a reused query tally, as the hot one.
            if self.pending.len() + 1 >= PENDING_TRACES {
                self.evict_oldest();
            }
            let mut p = Pending {
                spans: Vec::new(),
                count: 0,
                gone: 0,
                oldest: u64::MAX,
                newest: 0,
                failed: false,
                queries: self.spare_queries.pop().unwrap_or_default(),
                first: at,
            };
            p.add(ev, at, failed);
            if let Some((id, cooled)) = self.hot.replace((ev.trace_id, p)) {
                self.pending.insert(id, cooled);
            }
        }
    }

    /// Finishes the trace rooted at `batch[i]` (which `root_failed` or not): checks it for N+1
    /// queries and keeps it if it failed, is among the slowest or is due as a recent one.
    #[inline]
    fn finish_root(&mut self, batch: &[Event], i: usize, root_failed: bool) {
        let ev = &batch[i];
        let pending = if self.is_hot(&ev.trace_id) {
            self.hot.take().map(|(_, p)| p)
        } else if self.pending.is_empty() {
            None
        } else {
            self.pending.remove(&ev.trace_id)
        };
        let Some(p) = pending else {
            // No span under it. A lone event outside any request (emitted by hand, no context) is
            // no trace. A request is its own event: the newest of those are read from the request
            // ring when traces are listed, so it is copied here only if it failed or is among the
            // slowest.
            if matches!(ev.kind, EventKind::Req(_))
                && (root_failed || self.is_slow_candidate(ev.dur_ns))
            {
                let rec = TraceRecord {
                    trace_id: ev.trace_id,
                    root: ev.clone(),
                    spans: Vec::new(),
                };
                self.finish(rec, root_failed, false);
            }
            return;
        };
        if let EventKind::Req(r) = &ev.kind {
            self.detect_n_plus_one(ev, r.method, &r.route, &p.queries);
        }
        let Pending {
            spans,
            count,
            gone,
            failed,
            queries,
            ..
        } = p;
        self.recycle_queries(queries);
        let end = ev.ts_ns.saturating_add(ev.dur_ns);
        // Due as a recent one: the first to end RECENT_SPACING_NS after the last kept, or one with
        // spans in batches let go (the listing could not assemble it from the batches held).
        let recent = gone > 0 || end >= self.last_recent_end.saturating_add(RECENT_SPACING_NS);
        let failed = failed || root_failed;
        if !(recent || failed || self.is_slow_candidate(ev.dur_ns)) {
            self.recycle_spans(spans);
            return;
        }
        if recent {
            self.last_recent_end = self.last_recent_end.max(end);
        }
        let spans = self.gather(spans, count - gone, ev.trace_id, &batch[..i]);
        let rec = TraceRecord {
            trace_id: ev.trace_id,
            root: ev.clone(),
            spans,
        };
        self.finish(rec, failed, recent);
    }

    /// Appends to `spans` (the trace's spans copied earlier) the `held` spans of trace `id` still in
    /// `before` (the batch up to the root) and the batches held, oldest first, up to the span cap.
    fn gather(
        &mut self,
        mut spans: Vec<Event>,
        held: usize,
        id: TraceId,
        before: &[Event],
    ) -> Vec<Event> {
        if held == 0 || spans.len() >= SPANS_PER_TRACE {
            return spans;
        }
        if spans.capacity() == 0 {
            spans = self.spare_spans.pop().unwrap_or_default();
        }
        let from = spans.len();
        let mut left = held;
        let older = self
            .retained
            .iter()
            .rev()
            .flat_map(|h| h.events.iter().rev());
        for ev in before.iter().rev().chain(older) {
            if ev.trace_id == id && !is_root(ev) {
                spans.push(ev.clone());
                left -= 1;
                if left == 0 {
                    break;
                }
            }
        }
        // Found newest first; the cap keeps the oldest, as spans come.
        spans[from..].reverse();
        spans.truncate(SPANS_PER_TRACE);
        spans
    }

    /// Keeps `batch` as the newest events and lets the oldest batches go past the bounds, leaving
    /// in `batch` an empty one to fill next (see [`Recent::ingest`]).
    fn hold(&mut self, batch: &mut Vec<Event>) {
        let capacity = batch.capacity();
        let mut per_kind = [0usize; 3];
        for ev in batch.iter() {
            per_kind[kind_index(ev)] += 1;
        }
        let events = std::mem::take(batch);
        let first = self.arrived - events.len() as u64;
        self.retained.push_back(Held {
            events,
            per_kind,
            first,
        });
        let mut recycled = None;
        while self.retained.len() > RETAINED_BATCHES
            || (self.retained.len() > 1
                && (self.retained_per_kind().iter().sum::<usize>() > RETAINED_EVENTS
                    || self.retained_capacity() > 4 * RETAINED_EVENTS))
        {
            // Of each kind, the events still among its newest EVENTS_PER_KIND move to that kind's
            // ring. `newer` starts at the kind's count from the old batch's first event on and,
            // counted down as the events go, says how many of the kind are newer than each.
            let mut newer = self.retained_per_kind();
            let Some(old) = self.retained.pop_front() else {
                break;
            };
            self.rescue(&old);
            let Held {
                events: mut old,
                per_kind: old_per_kind,
                first,
            } = old;
            // Under load every kind has EVENTS_PER_KIND newer events in the batches kept: nothing
            // of the old batch moves, and its events are only dropped.
            if (0..3).all(|k| newer[k] - old_per_kind[k] >= EVENTS_PER_KIND) {
                old.clear();
                recycled = Some(old);
                continue;
            }
            for (at, ev) in (first..).zip(old.drain(..)) {
                let k = kind_index(&ev);
                newer[k] -= 1;
                if newer[k] < EVENTS_PER_KIND {
                    self.kinds[k].push((at, ev));
                }
            }
            recycled = Some(old);
        }
        *batch = recycled.unwrap_or_else(|| Vec::with_capacity(capacity));
    }

    /// Copies out of `old`, a batch being let go, the spans of traces still being assembled, which
    /// could not be read back from it when their roots come.
    fn rescue(&mut self, old: &Held) {
        let end = old.end();
        if !self.pending_all().any(|p| p.oldest < end) {
            return;
        }
        for (i, ev) in old.events.iter().enumerate() {
            if is_root(ev) {
                continue;
            }
            let at = old.first + i as u64;
            if let Some(p) = self.pending_mut(&ev.trace_id) {
                // Counted in this trace (not an earlier one of the same id, evicted).
                if p.oldest <= at && at <= p.newest {
                    p.gone += 1;
                    if p.spans.len() < SPANS_PER_TRACE {
                        p.spans.push(ev.clone());
                    }
                }
            }
        }
        let hot = self.hot.iter_mut().map(|(_, p)| p);
        for p in self.pending.values_mut().chain(hot) {
            if p.oldest < end {
                p.oldest = if p.newest < end { u64::MAX } else { end };
            }
        }
    }

    /// The newest `n` traces (of trace `only`, if given) whose roots are in the batches held, with
    /// their spans there, newest first. Roots with no span there are left out, unless asked for by
    /// id.
    ///
    /// A root's spans are those of its trace id that arrived after the previous root of that id
    /// and before it (spans end, and so arrive, before their root): requests of this service that
    /// share a trace id (an upstream service calling it twice in one trace) are listed apart, each
    /// with its own spans, as [`State::finish_root`] keeps them.
    fn held_traces(&self, n: usize, only: Option<TraceId>) -> Vec<TraceRecord> {
        let held = || self.retained.iter().flat_map(|h| h.events.iter());
        let mut out: Vec<TraceRecord> = Vec::new();
        let mut index: HashMap<(TraceId, SpanId), usize> = HashMap::new();
        // The spans of each listed trace id since its last root, oldest first.
        let mut open: HashMap<TraceId, Vec<&Event>> = HashMap::new();
        for ev in held().rev() {
            if out.len() == n {
                break;
            }
            if is_root(ev)
                && only.is_none_or(|id| id == ev.trace_id)
                && !index.contains_key(&(ev.trace_id, ev.span_id))
            {
                index.insert((ev.trace_id, ev.span_id), out.len());
                open.entry(ev.trace_id).or_default();
                out.push(TraceRecord {
                    trace_id: ev.trace_id,
                    root: ev.clone(),
                    spans: Vec::new(),
                });
            }
        }
        if out.is_empty() {
            return out;
        }
        for ev in held() {
            let Some(spans) = open.get_mut(&ev.trace_id) else {
                continue;
            };
            if !is_root(ev) {
                spans.push(ev);
                continue;
            }
            if let Some(&i) = index.get(&(ev.trace_id, ev.span_id)) {
                if out[i].spans.is_empty() {
                    let take = spans.len().min(SPANS_PER_TRACE);
                    out[i].spans = spans[..take].iter().map(|ev| (*ev).clone()).collect();
                }
            }
            spans.clear();
        }
        if only.is_none() {
            out.retain(|t| !t.spans.is_empty());
        }
        out
    }

    /// Events per kind in the retained batches (a handful of batches: summed when needed).
    fn retained_per_kind(&self) -> [usize; 3] {
        let mut total = [0; 3];
        for h in &self.retained {
            for (t, n) in total.iter_mut().zip(&h.per_kind) {
                *t += n;
            }
        }
        total
    }

    /// The capacity of the retained batches, in events.
    fn retained_capacity(&self) -> usize {
        self.retained.iter().map(|h| h.events.capacity()).sum()
    }

    fn detect_n_plus_one(
        &mut self,
        root: &Event,
        method: &'static str,
        route: &Name,
        queries: &QueryTally,
    ) {
        let threshold = if self.n_plus_one_threshold == 0 {
            DEFAULT_N_PLUS_ONE
        } else {
            self.n_plus_one_threshold
        };
        let now_ms = (root.ts_ns + root.dur_ns) / 1_000_000;
        for (stmt, q) in queries.iter() {
            let QueryCount {
                count,
                total_ns,
                system,
            } = *q;
            if count < threshold {
                continue;
            }
            let key = (method, route.clone(), stmt.clone());
            if !self.findings.contains_key(&key) && self.findings.len() >= FINDINGS {
                continue;
            }
            let f = self.findings.entry(key).or_insert_with(|| {
                eprintln!(
                    "spyglass: N+1 queries: `{stmt}` ran {count} times in one request to {method} {route} \
                     ({:.2} ms in all; trace {}). Further occurrences are listed under n_plus_one in \
                     /_spyglass/api/stats.",
                    total_ns as f64 / 1e6,
                    root.trace_id
                );
                NPlusOne {
                    method,
                    route: route.clone(),
                    statement: stmt.clone(),
                    system,
                    count: 0,
                    total_ms: 0.0,
                    occurrences: 0,
                    trace_id: root.trace_id,
                    span_id: root.span_id,
                    last_seen_ms: 0,
                }
            });
            f.count = count;
            f.total_ms = total_ns as f64 / 1e6;
            f.occurrences += 1;
            f.trace_id = root.trace_id;
            f.span_id = root.span_id;
            f.last_seen_ms = now_ms;
        }
    }

    /// Lets go of the slowest traces that ended more than [`SLOW_TRACE_AGE_NS`] before `now_ns`.
    fn age_slow(&mut self, now_ns: u64) {
        let cutoff = now_ns.saturating_sub(SLOW_TRACE_AGE_NS);
        self.slow_traces
            .retain(|t| t.root.ts_ns + t.root.dur_ns >= cutoff);
    }

    /// Whether a trace this long would enter the set of the slowest.
    fn is_slow_candidate(&self, dur_ns: u64) -> bool {
        self.slow_traces.len() < SLOW_TRACES
            || self
                .slow_traces
                .last()
                .is_some_and(|t| t.root.dur_ns < dur_ns)
    }

    /// Keeps a finished trace: among the failed ones when it `failed` (its root or a span), among
    /// the slowest when it is one, and in the ring of recent ones when `recent`.
    fn finish(&mut self, rec: TraceRecord, failed: bool, recent: bool) {
        if failed {
            self.error_traces.push(rec.clone());
        }
        // The slowest traces: a small set sorted by duration, slowest first.
        let dur = rec.root.dur_ns;
        if self.is_slow_candidate(dur) {
            let pos = self.slow_traces.partition_point(|t| t.root.dur_ns >= dur);
            self.slow_traces.insert(pos, rec.clone());
            self.slow_traces.truncate(SLOW_TRACES);
        }
        if !recent {
            self.recycle_spans(rec.spans);
        } else if let Some(old) = self.recent_traces.push(rec) {
            self.recycle_spans(old.spans);
        }
    }

    /// Evicts the oldest quarter of the traces being assembled (their roots have not come: lost,
    /// or far slower than the rest). A quarter at once, so that a flood of traces that never end
    /// costs one pass over the set per `PENDING_TRACES / 4` new traces, not one per trace.
    #[cold]
    fn evict_oldest(&mut self) {
        if let Some((id, p)) = self.hot.take() {
            self.pending.insert(id, p);
        }
        let mut order = std::mem::take(&mut self.evict_order);
        order.clear();
        order.extend(self.pending.iter().map(|(id, p)| (p.first, *id)));
        let n = (PENDING_TRACES / 4).min(order.len());
        if n > 0 {
            order.select_nth_unstable(n - 1);
        }
        for &(_, id) in &order[..n] {
            if let Some(p) = self.pending.remove(&id) {
                self.recycle(p);
            }
        }
        self.evict_order = order;
    }

    /// Keeps the span list and query tally of a trace done with for the next traces.
    fn recycle(&mut self, p: Pending) {
        self.recycle_queries(p.queries);
        self.recycle_spans(p.spans);
    }

    /// Keeps an emptied span list for the next trace, if it is small and there is room. Inlined: as
    /// a rule a trace done with copied nothing, and its list is empty and unallocated.
    #[inline]
    fn recycle_spans(&mut self, spans: Vec<Event>) {
        let capacity = spans.capacity();
        keep_spare(&mut self.spare_spans, spans, capacity, Vec::clear);
    }

    /// Keeps an emptied query tally for the next trace, if it is small and there is room.
    fn recycle_queries(&mut self, queries: QueryTally) {
        let capacity = queries.capacity();
        keep_spare(
            &mut self.spare_queries,
            queries,
            capacity,
            QueryTally::clear,
        );
    }
}

/// Puts `item` (emptied by `clear`) in `spares` if it holds something worth reusing, is no larger
/// than [`SPARE_CAPACITY`] and the pool has room; else drops it.
fn keep_spare<T>(spares: &mut Vec<T>, mut item: T, capacity: usize, clear: impl FnOnce(&mut T)) {
    if capacity > 0 && capacity <= SPARE_CAPACITY && spares.len() < SPARES {
        clear(&mut item);
        spares.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(capacity: usize, n: usize) -> Vec<Event> {
        let mut b = Vec::with_capacity(capacity);
        b.extend((0..n).map(|i| Event::function("f", "m", i as u64, false)));
        b
    }

    /// A batch of `requests` requests, each a root with a function and two queries under it. The
    /// requests end `spacing_ns` apart, the first at `*end_ns` (advanced past the last).
    fn traced_batch(requests: usize, end_ns: &mut u64, spacing_ns: u64) -> Vec<Event> {
        let route: Name = Name::from_static("/users/{id}");
        let statement: Name = Name::from_static("SELECT * FROM users WHERE id = ?");
        let mut b = Vec::new();
        for _ in 0..requests {
            let mut root = Event::request("GET", route.clone(), 200, 1_000);
            root.ts_ns = *end_ns - root.dur_ns;
            *end_ns += spacing_ns;
            let under = |mut ev: Event| {
                ev.trace_id = root.trace_id;
                ev.parent_span_id = Some(root.span_id);
                ev
            };
            b.push(under(Event::function("load_user", "shop", 10, false)));
            b.push(under(Event::query(statement.clone(), "sqlite", Some(1), 5)));
            b.push(under(Event::query(statement.clone(), "sqlite", Some(1), 5)));
            b.push(root);
        }
        b
    }

    #[test]
    fn assembling_traces_allocates_nothing_once_warm() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        // Requests far enough apart that every one is kept as a recent trace, the case that copies
        // its spans.
        let mut end = 1_000_000_000;
        let mut batches: Vec<Vec<Event>> = (0..600)
            .map(|_| traced_batch(20, &mut end, RECENT_SPACING_NS))
            .collect();
        let mut warm = batches.split_off(300);
        for b in &mut batches {
            r.ingest(b);
        }
        let info = allocation_counter::measure(|| {
            for b in &mut warm {
                r.ingest(b);
            }
        });
        assert_eq!(info.count_total, 0, "{info:?}");
        let st = r.state.lock();
        assert_eq!(st.recent_traces.buf.len(), RECENT_TRACES);
        assert!(st.recent_traces.iter().all(|t| t.spans.len() == 3));
        assert!(st.pending.is_empty() && st.hot.is_none());
    }

    #[test]
    fn the_slowest_traces_age_out_after_the_longest_window() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        let mut end = 1_000_000_000;
        let mut b = traced_batch(SLOW_TRACES, &mut end, 1_000);
        r.ingest(&mut b);
        assert_eq!(r.state.lock().slow_traces.len(), SLOW_TRACES);
        // Just inside the window they stay; past it they go, and newer traces take their place.
        end += SLOW_TRACE_AGE_NS - 2_000_000;
        let mut b = traced_batch(1, &mut end, 1_000);
        r.ingest(&mut b);
        assert_eq!(r.state.lock().slow_traces.len(), SLOW_TRACES);
        end += 1_000_000_000;
        let mut b = traced_batch(2, &mut end, 1_000);
        let newest: Vec<TraceId> = b
            .iter()
            .filter(|e| is_root(e))
            .map(|e| e.trace_id)
            .collect();
        r.ingest(&mut b);
        let st = r.state.lock();
        let kept: Vec<TraceId> = st.slow_traces.iter().map(|t| t.trace_id).collect();
        // The first SLOW_TRACES aged out; the second batch's root never entered (no slower than
        // a full set); the two newest filled the freed places.
        assert_eq!(kept, newest);
    }

    #[test]
    fn traces_close_together_are_copied_only_when_listed() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        // 1 000 requests 1 µs apart: the first is kept as a recent trace as it ends (and the first
        // SLOW_TRACES as the slowest so far), the rest are only counted.
        let mut end = 1_000_000_000;
        let mut roots = Vec::new();
        for _ in 0..50 {
            let mut b = traced_batch(20, &mut end, 1_000);
            roots.extend(b.iter().filter(|ev| is_root(ev)).cloned());
            r.ingest(&mut b);
        }
        let st = r.state.lock();
        assert_eq!(st.recent_traces.buf.len(), 1);
        assert_eq!(st.slow_traces.len(), SLOW_TRACES);
        assert!(st.pending.is_empty() && st.hot.is_none());
        drop(st);
        // Listed, the newest are assembled from the batches held, each with its three spans.
        let traces = r.traces();
        assert!(traces.len() <= SLOW_TRACES + RECENT_TRACES + 1);
        for root in &roots[roots.len() - RECENT_TRACES..] {
            let t = traces
                .iter()
                .find(|t| t.trace_id == root.trace_id)
                .expect("a newest trace is listed");
            assert_eq!(t.spans.len(), 3);
        }
        // One by id, also past the newest RECENT_TRACES.
        let older = r.state.lock().retained[2].events[3].clone();
        let t = r
            .trace(older.trace_id)
            .expect("still among the batches held");
        assert_eq!(t.spans.len(), 3);
        assert_eq!(t.root.span_id, older.span_id);
    }

    #[test]
    fn requests_sharing_a_trace_id_are_listed_and_found_apart() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        // Enough slower traces that the next ones are none of the slowest, and one kept as recent
        // just before: the next ones are kept by nothing, only assembled when listed.
        let mut end = 1_000_000_000;
        r.ingest(&mut traced_batch(SLOW_TRACES + 1, &mut end, 1_000));
        // An upstream service calls this one twice in one trace: /a then /b, each with a function.
        let trace = TraceId::random();
        let upstream = SpanId::random();
        let request = |route: &'static str, f: &'static str, end_ns: u64| {
            let mut root = Event::request("GET", Name::from_static(route), 200, 500);
            root.ts_ns = end_ns - 500;
            root.trace_id = trace;
            root.parent_span_id = Some(upstream);
            let mut span = Event::function(f, "m", 100, false);
            span.ts_ns = root.ts_ns + 100;
            span.trace_id = trace;
            span.parent_span_id = Some(root.span_id);
            (root, span)
        };
        let (a, fn_a) = request("/a", "fn_of_a", end);
        let (b, fn_b) = request("/b", "fn_of_b", end + 1_000);
        r.ingest(&mut vec![fn_a.clone(), a.clone(), fn_b.clone(), b.clone()]);
        {
            let st = r.state.lock();
            assert_eq!(
                st.recent_traces.buf.len(),
                1,
                "kept by nothing as they ended"
            );
            assert!(!st.slow_traces.iter().any(|t| t.trace_id == trace));
        }
        let names = |t: &TraceRecord| -> Vec<String> {
            t.spans
                .iter()
                .map(|ev| match &ev.kind {
                    EventKind::Fn(f) => f.name.as_str().to_string(),
                    _ => "?".into(),
                })
                .collect()
        };
        // Listed apart, each with its own function.
        let listed: Vec<TraceRecord> = r
            .traces()
            .into_iter()
            .filter(|t| t.trace_id == trace)
            .collect();
        assert_eq!(listed.len(), 2);
        for t in &listed {
            let want = if t.root.span_id == a.span_id {
                "fn_of_a"
            } else {
                assert_eq!(t.root.span_id, b.span_id);
                "fn_of_b"
            };
            assert_eq!(names(t), [want]);
        }
        // Found by the root's span or by a span under it.
        for (span, root, f) in [
            (a.span_id, &a, "fn_of_a"),
            (fn_a.span_id, &a, "fn_of_a"),
            (b.span_id, &b, "fn_of_b"),
            (fn_b.span_id, &b, "fn_of_b"),
        ] {
            let t = r.trace_with_span(trace, span).expect("found");
            assert_eq!(t.root.span_id, root.span_id);
            assert_eq!(names(&t), [f]);
        }
        assert!(r.trace_with_span(trace, upstream).is_none());
        assert!(r.trace(trace).is_some());
    }

    #[test]
    fn a_span_in_a_batch_let_go_is_copied_while_its_trace_is_open() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        let mut end = 1_000_000_000;
        // A request's first span, then enough traffic for its batch to be let go, then its second
        // span and its root.
        let root = Event::request("GET", Name::from_static("/long"), 200, 5_000_000);
        let under = |mut ev: Event| {
            ev.trace_id = root.trace_id;
            ev.parent_span_id = Some(root.span_id);
            ev
        };
        r.ingest(&mut vec![under(Event::function("early", "m", 1, false))]);
        for _ in 0..2 * RETAINED_BATCHES {
            r.ingest(&mut traced_batch(40, &mut end, 1_000));
        }
        assert_eq!(r.state.lock().pending_mut(&root.trace_id).unwrap().gone, 1);
        r.ingest(&mut vec![
            under(Event::function("late", "m", 1, false)),
            root.clone(),
        ]);
        let t = r.trace(root.trace_id).expect("kept");
        let names: Vec<&str> = t
            .spans
            .iter()
            .map(|ev| match &ev.kind {
                EventKind::Fn(f) => f.name.as_str(),
                _ => "?",
            })
            .collect();
        assert_eq!(names, ["early", "late"]);
    }

    #[test]
    fn traces_that_never_end_are_evicted_oldest_first() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        // Spans whose roots never come, one trace each, in arrival order.
        let orphans: Vec<Event> = (0..3 * PENDING_TRACES)
            .map(|_| {
                let mut ev = Event::function("f", "m", 1, false);
                ev.parent_span_id = Some(crate::context::SpanId::random());
                ev
            })
            .collect();
        for chunk in orphans.chunks(100) {
            r.ingest(&mut chunk.to_vec());
        }
        let mut st = r.state.lock();
        let open = st.pending_all().count();
        assert!(open <= PENDING_TRACES);
        assert!(open > PENDING_TRACES / 2);
        // The newest are kept, the oldest went first.
        assert!(st.pending_mut(&orphans.last().unwrap().trace_id).is_some());
        let kept = orphans
            .iter()
            .position(|ev| st.pending_mut(&ev.trace_id).is_some());
        let kept = kept.unwrap();
        assert!(orphans[kept..]
            .iter()
            .all(|ev| st.pending_mut(&ev.trace_id).is_some()));
        drop(st);
        // A trace still being assembled gets its root: it is finished with its span.
        let last = orphans.last().unwrap();
        let mut root = Event::request("GET", Name::from_static("/slow"), 500, 9_000);
        root.trace_id = last.trace_id;
        root.span_id = last.parent_span_id.unwrap();
        r.ingest(&mut vec![root]);
        let t = r.trace(last.trace_id).expect("kept as a failed trace");
        assert_eq!(t.spans.len(), 1);
    }

    #[test]
    fn a_trace_with_many_distinct_statements_is_tallied_exactly() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        let root = Event::request("GET", Name::from_static("/report"), 200, 1_000);
        let mut b = Vec::new();
        // 2 × TALLY_LIST distinct statements, so the tally's list fills and its map takes the
        // rest: each runs 6 times, except the last, which runs 4 times (below the threshold).
        let statements: Vec<String> = (0..2 * TALLY_LIST)
            .map(|i| format!("SELECT * FROM t{i} WHERE id = ?"))
            .collect();
        for round in 0..6 {
            for (i, text) in statements.iter().enumerate() {
                if i == statements.len() - 1 && round >= 4 {
                    continue;
                }
                // A fresh name each time (same text, another allocation): found by its text.
                let mut ev = Event::query(Name::from(text.clone()), "sqlite", Some(1), 7);
                ev.trace_id = root.trace_id;
                ev.parent_span_id = Some(root.span_id);
                b.push(ev);
            }
        }
        b.push(root);
        r.ingest(&mut b);
        let found = r.n_plus_one(0);
        assert_eq!(found.len(), 2 * TALLY_LIST - 1);
        assert!(found.iter().all(|f| f.count == 6 && f.total_ms == 42e-6));
        assert!(!found
            .iter()
            .any(|f| f.statement.as_str() == statements.last().unwrap()));
    }

    #[test]
    fn retained_batches_stay_bounded_in_count_events_and_capacity() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        // Small batches: at most RETAINED_BATCHES of them.
        for _ in 0..50 {
            let mut b = batch(128, 3);
            r.ingest(&mut b);
            assert!(b.is_empty());
        }
        assert_eq!(r.state.lock().retained.len(), RETAINED_BATCHES);
        // Full batches: at most RETAINED_EVENTS events (and the newest batch whatever its size).
        for _ in 0..50 {
            let mut b = batch(512, 512);
            r.ingest(&mut b);
            // A batch let go comes back, emptied, with its capacity.
            assert!(b.is_empty() && b.capacity() >= 128);
        }
        assert_eq!(
            r.state.lock().retained_per_kind().iter().sum::<usize>(),
            RETAINED_EVENTS
        );
        // Huge, nearly empty batches (a large `batch_max`, light traffic): bounded by capacity.
        for _ in 0..50 {
            let mut b = batch(100_000, 1);
            r.ingest(&mut b);
        }
        let st = r.state.lock();
        assert_eq!(st.retained.len(), 1);
        assert!(st.retained_capacity() <= 100_000);
        assert_eq!(
            st.retained_per_kind().iter().sum::<usize>(),
            st.retained.iter().map(|h| h.events.len()).sum::<usize>()
        );
        // Every event still listed was counted in a kind ring or a batch: 512 function calls.
        drop(st);
        assert_eq!(
            r.events(Some(KindFilter::Fn), usize::MAX).len(),
            EVENTS_PER_KIND
        );
    }

    #[test]
    fn since_a_cursor_lists_what_arrived_after_it_whatever_its_timestamps() {
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        // Event `i` lasts `i + 1` ns, of the three kinds in turn, one batch each: past
        // RETAINED_BATCHES the older ones are only in the per-kind rings.
        let one = |i: u64| {
            let mut ev = match i % 3 {
                0 => Event::function("f", "m", i + 1, false),
                1 => Event::request("GET", "/a", 200, i + 1),
                _ => Event::query("SELECT 1", "sqlite", None, i + 1),
            };
            ev.ts_ns = 1_000_000 + i;
            ev
        };
        let ingest = |range: std::ops::Range<u64>| {
            for i in range {
                r.ingest(&mut vec![one(i)]);
            }
        };
        let durs = |evs: &[Event]| evs.iter().map(|e| e.dur_ns - 1).collect::<Vec<_>>();
        ingest(0..40);
        let first = r.since(0, 50);
        assert_eq!(first.cursor, 40);
        assert_eq!(durs(&first.events), (0..40).rev().collect::<Vec<_>>());
        ingest(40..70);
        let next = r.since(first.cursor, 50);
        assert_eq!(durs(&next.events), (40..70).rev().collect::<Vec<_>>());
        assert!(r.state.lock().retained.front().unwrap().first > 40);
        assert_eq!(durs(&r.since(next.cursor - 5, 3).events), vec![69, 68, 67]);
        assert!(r.since(next.cursor, 50).events.is_empty());

        // An error stamped before one already read, but arriving after it, is still new.
        let error_at = |end_ns: u64| {
            let mut ev = Event::request("GET", "/e", 500, 10);
            ev.ts_ns = end_ns - 10;
            ev
        };
        r.ingest(&mut vec![error_at(2_000_000_000)]);
        let seen = r.since(next.cursor, 50);
        assert_eq!(seen.errors.len(), 1);
        let late = error_at(1_000_000_000);
        let late_span = late.span_id;
        r.ingest(&mut vec![late]);
        let got = r.since(seen.cursor, 50);
        assert_eq!(got.errors.len(), 1);
        assert_eq!(got.errors[0].span_id, late_span);
        assert_eq!(got.events.len(), 1);
        assert_eq!(got.events[0].span_id, late_span);
    }

    #[test]
    fn n_plus_one_findings_are_kept_per_method() {
        // A GET and a DELETE on one route, each running one statement 6 times: two findings, each
        // linking to its own request.
        let r = Recent::new(DEFAULT_N_PLUS_ONE);
        let route = Name::from_static("/users/{id}");
        let statement = Name::from_static("SELECT * FROM users WHERE id = ?");
        let request = |method: &'static str, end_ns: u64| {
            let mut root = Event::request(method, route.clone(), 200, 1_000);
            root.ts_ns = end_ns - root.dur_ns;
            let mut b: Vec<Event> = (0..6)
                .map(|_| {
                    let mut q = Event::query(statement.clone(), "sqlite", Some(1), 5);
                    q.trace_id = root.trace_id;
                    q.parent_span_id = Some(root.span_id);
                    q
                })
                .collect();
            b.push(root);
            b
        };
        let mut get = request("GET", 1_000_000_000);
        let mut delete = request("DELETE", 2_000_000_000);
        let (get_span, delete_span) = (get[6].span_id, delete[6].span_id);
        r.ingest(&mut get);
        r.ingest(&mut delete);
        let found = r.n_plus_one(0);
        assert_eq!(found.len(), 2, "{found:?}");
        let of = |method: &str| found.iter().find(|f| f.method == method);
        let delete = of("DELETE").expect("a DELETE finding");
        assert_eq!(delete.span_id, delete_span);
        assert_eq!((delete.count, delete.occurrences), (6, 1));
        let get = of("GET").expect("a GET finding");
        assert_eq!(get.span_id, get_span);
        assert_eq!((get.count, get.occurrences), (6, 1));
    }
}
