//! Events: what the emitter records and the collector hands to exporters.
//!
//! Three kinds, as in the JSONL schema (SPEC §7): a request (`req`), an instrumented function call
//! (`fn`) and a database query (`db`). Every event carries its trace context. Events hold only
//! `'static` or shared names, so building one never allocates; the exceptions are error texts,
//! which exist only on the error path, and the labels a user's hook adds to a request.
//!
//! # Example
//!
//! ```
//! use spyglass_core::event::{Event, EventRecord};
//!
//! let ev = Event::function("load_user", "shop::users", 1_500, false);
//! let line = serde_json::to_string(&EventRecord { service: "shop", event: &ev }).unwrap();
//! assert!(line.contains(r#""kind":"fn""#));
//! ```

use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};

use crate::context::{SpanId, TraceContext, TraceId};
use crate::name::Name;

/// One recorded unit of work.
#[derive(Debug, Clone)]
pub struct Event {
    /// Start time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Duration in nanoseconds.
    pub dur_ns: u64,
    /// The trace this event belongs to.
    pub trace_id: TraceId,
    /// This event's own span.
    pub span_id: SpanId,
    /// The parent span; `None` for a root.
    pub parent_span_id: Option<SpanId>,
    /// Whether the trace was sampled for export (errors are always marked sampled). Metric exporters
    /// count every event; trace and log exporters export only sampled ones.
    pub sampled: bool,
    /// What happened.
    pub kind: EventKind,
}

/// The kind-specific part of an [`Event`].
#[derive(Debug, Clone)]
pub enum EventKind {
    /// An HTTP request served.
    Req(ReqEvent),
    /// An instrumented function call.
    Fn(FnEvent),
    /// A database query.
    Db(DbEvent),
}

/// An HTTP request served.
#[derive(Debug, Clone)]
pub struct ReqEvent {
    /// HTTP method (`_OTHER` for non-standard ones).
    pub method: &'static str,
    /// Route template (never the raw path); `<unmatched>` when no route matched.
    pub route: Name,
    /// Response status code.
    pub status: u16,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// Panic message or error text, when the request failed.
    pub error: Option<Arc<str>>,
    /// The labels a user's hook attached to the request (none unless a hook adds some).
    pub labels: Labels,
}

/// Labels a user attaches to one request, from a middleware's `on_request` or `on_response` hook:
/// a tenant, a plan, a cache outcome. They travel with the request's event to the exporters (JSONL
/// `labels`, OTLP span attributes, the console) and to the dashboard (its JSON API, and on the page
/// the errors table and the request detail view).
///
/// They are not Prometheus labels and do not split the stats: a label's values are the user's and
/// unbounded, while every stats key and metric label is bounded (SPEC §6, §8).
///
/// A request without labels costs nothing. Labels allocate: the list, on the first insert, and
/// each key or value not given as a `&'static str` (a `String` is moved into a shared string). At
/// most [`Labels::MAX`] labels are kept, each key and value cut to [`Labels::MAX_LEN`] bytes.
///
/// # Example
///
/// ```
/// use spyglass_core::event::Labels;
///
/// let mut labels = Labels::new();
/// assert!(labels.insert("tenant", "acme"));
/// labels.insert("tenant", String::from("globex")); // replaces
/// assert_eq!(labels.get("tenant"), Some("globex"));
/// assert_eq!(labels.iter().collect::<Vec<_>>(), [("tenant", "globex")]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Labels(Option<Arc<Vec<(Name, Name)>>>);

impl Labels {
    /// The most labels a request keeps; [`insert`](Labels::insert) refuses more.
    pub const MAX: usize = 16;
    /// The longest key or value kept, in bytes; longer ones are cut at a character boundary.
    pub const MAX_LEN: usize = 256;

    /// No labels.
    pub const fn new() -> Self {
        Labels(None)
    }

    /// Sets `key` to `value`, replacing the value of a label with the same key. Returns `false`,
    /// and keeps the labels as they were, when [`MAX`](Labels::MAX) other labels are already set.
    pub fn insert(&mut self, key: impl Into<Name>, value: impl Into<Name>) -> bool {
        let key = cut(key.into());
        let value = cut(value.into());
        let pairs = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        if let Some(slot) = pairs.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
            return true;
        }
        if pairs.len() >= Self::MAX {
            return false;
        }
        pairs.push((key, value));
        true
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The labels as `(key, value)`, in the order first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0
            .iter()
            .flat_map(|p| p.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many labels are set.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.len())
    }

    /// Whether no label is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `name` cut to [`Labels::MAX_LEN`] bytes at a character boundary.
fn cut(name: Name) -> Name {
    if name.len() <= Labels::MAX_LEN {
        return name;
    }
    let mut end = Labels::MAX_LEN;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    Name::from(Arc::<str>::from(&name[..end]))
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl serde::Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

/// An instrumented function call.
#[derive(Debug, Clone)]
pub struct FnEvent {
    /// Function name.
    pub name: Name,
    /// Module path.
    pub module: Name,
    /// Whether it failed (`Err` or panic).
    pub error: bool,
    /// The error's text, when known.
    pub error_text: Option<Arc<str>>,
}

/// A database query.
#[derive(Debug, Clone)]
pub struct DbEvent {
    /// Redacted statement fingerprint (literals replaced by `?`).
    pub statement: Name,
    /// Database system, OpenTelemetry `db.system.name` (`postgresql`, `sqlite`, `other_sql`, …).
    pub system: &'static str,
    /// Rows returned or affected, when known.
    pub rows: Option<u64>,
    /// Whether the query failed.
    pub error: bool,
    /// The error's text, when known (never bind values).
    pub error_text: Option<Arc<str>>,
}

impl Event {
    /// An event of `kind` in a fresh root trace, stamped now minus its duration.
    ///
    /// Mostly for tests and exporters' examples; instrumentation goes through the
    /// [`Emitter`](crate::Emitter), which stamps the current trace context.
    pub fn new(kind: EventKind, dur_ns: u64) -> Self {
        let ctx = TraceContext::new_root(true);
        Event {
            ts_ns: crate::clock::unix_nanos().saturating_sub(dur_ns),
            dur_ns,
            trace_id: ctx.trace_id(),
            span_id: ctx.span_id(),
            parent_span_id: None,
            sampled: true,
            kind,
        }
    }

    /// A request event in a fresh root trace.
    pub fn request(method: &str, route: impl Into<Name>, status: u16, dur_ns: u64) -> Self {
        let mut ev = Event::new(
            EventKind::Req(ReqEvent {
                method: crate::name::method_name(method),
                route: route.into(),
                status,
                bytes_in: 0,
                bytes_out: 0,
                error: None,
                labels: Labels::new(),
            }),
            dur_ns,
        );
        ev.sampled = true;
        ev
    }

    /// A function event in a fresh root trace.
    pub fn function(
        name: impl Into<Name>,
        module: impl Into<Name>,
        dur_ns: u64,
        error: bool,
    ) -> Self {
        Event::new(
            EventKind::Fn(FnEvent {
                name: name.into(),
                module: module.into(),
                error,
                error_text: None,
            }),
            dur_ns,
        )
    }

    /// A query event in a fresh root trace; `statement` must already be redacted.
    pub fn query(
        statement: impl Into<Name>,
        system: &'static str,
        rows: Option<u64>,
        dur_ns: u64,
    ) -> Self {
        Event::new(
            EventKind::Db(DbEvent {
                statement: statement.into(),
                system,
                rows,
                error: false,
                error_text: None,
            }),
            dur_ns,
        )
    }

    /// The kind as in the JSON schema: `req`, `fn` or `db`.
    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            EventKind::Req(_) => "req",
            EventKind::Fn(_) => "fn",
            EventKind::Db(_) => "db",
        }
    }

    /// Whether the event is an error: a 5xx or failed request, a failed call or query.
    pub fn is_error(&self) -> bool {
        match &self.kind {
            EventKind::Req(r) => r.status >= 500 || r.error.is_some(),
            EventKind::Fn(f) => f.error,
            EventKind::Db(d) => d.error,
        }
    }

    /// The error text, if any was recorded.
    pub fn error_text(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Req(r) => r.error.as_deref(),
            EventKind::Fn(f) => f.error_text.as_deref(),
            EventKind::Db(d) => d.error_text.as_deref(),
        }
    }

    /// The trace context this event's span forms.
    pub fn context(&self) -> TraceContext {
        TraceContext::from_parts(
            self.trace_id,
            self.span_id,
            self.parent_span_id,
            self.sampled,
        )
    }
}

/// The text of a panic payload (`panic!("…")` gives a `&str` or a `String`), for the error of the
/// request or call that panicked.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("panicked")
    }
}

/// An event with its service name: serializes to one JSONL line of the SPEC §7 schema.
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    /// The service name (`OTEL_SERVICE_NAME` or the builder's).
    pub service: &'a str,
    /// The event.
    pub event: &'a Event,
}

impl serde::Serialize for EventRecord<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.event;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts_ns", &e.ts_ns)?;
        m.serialize_entry("kind", e.kind_str())?;
        m.serialize_entry("dur_ns", &e.dur_ns)?;
        m.serialize_entry("trace_id", &e.trace_id)?;
        m.serialize_entry("span_id", &e.span_id)?;
        m.serialize_entry("parent_span_id", &e.parent_span_id)?;
        m.serialize_entry("service", self.service)?;
        match &e.kind {
            EventKind::Req(r) => {
                m.serialize_entry("method", r.method)?;
                m.serialize_entry("route", &r.route)?;
                m.serialize_entry("status", &r.status)?;
                m.serialize_entry("bytes_in", &r.bytes_in)?;
                m.serialize_entry("bytes_out", &r.bytes_out)?;
                if let Some(err) = &r.error {
                    m.serialize_entry("error", err)?;
                }
                if !r.labels.is_empty() {
                    m.serialize_entry("labels", &r.labels)?;
                }
            }
            EventKind::Fn(f) => {
                m.serialize_entry("name", &f.name)?;
                m.serialize_entry("module", &f.module)?;
                m.serialize_entry("error", &f.error)?;
                if let Some(t) = &f.error_text {
                    m.serialize_entry("error_text", t)?;
                }
            }
            EventKind::Db(d) => {
                m.serialize_entry("statement", &d.statement)?;
                m.serialize_entry("system", d.system)?;
                m.serialize_entry("rows", &d.rows)?;
                m.serialize_entry("error", &d.error)?;
                if let Some(t) = &d.error_text {
                    m.serialize_entry("error_text", t)?;
                }
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        let mut l = Labels::new();
        assert!(l.is_empty());
        for i in 0..Labels::MAX {
            assert!(l.insert(format!("k{i}"), "v"));
        }
        assert!(!l.insert("one more", "v"), "past MAX a new key is refused");
        assert!(
            l.insert("k3", "replaced"),
            "an existing key is still replaced"
        );
        assert_eq!(l.len(), Labels::MAX);
        assert_eq!(l.get("k3"), Some("replaced"));
        assert_eq!(l.get("one more"), None);

        let long = "é".repeat(Labels::MAX_LEN); // two bytes each
        let mut l = Labels::new();
        l.insert(long.clone(), long.clone());
        let (k, v) = l.iter().next().unwrap();
        assert_eq!(k.len(), Labels::MAX_LEN);
        assert_eq!(v.len(), Labels::MAX_LEN);
        assert!(long.starts_with(v));
        let odd = format!("x{long}"); // the cut falls inside a character
        l.insert("odd", odd);
        assert_eq!(l.get("odd").unwrap().len(), Labels::MAX_LEN - 1);
        assert_eq!(format!("{:?}", Labels::new()), "{}");
    }

    #[test]
    fn jsonl_schema_for_each_kind() {
        let mut req = Event::request("GET", "/users/{id}", 200, 15_000_000);
        if let EventKind::Req(r) = &mut req.kind {
            r.bytes_out = 1200;
        }
        let v: serde_json::Value = serde_json::to_value(EventRecord {
            service: "shop",
            event: &req,
        })
        .unwrap();
        assert_eq!(v["kind"], "req");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["route"], "/users/{id}");
        assert_eq!(v["status"], 200);
        assert_eq!(v["bytes_out"], 1200);
        assert_eq!(v["service"], "shop");
        assert_eq!(v["dur_ns"], 15_000_000);
        assert_eq!(v["trace_id"].as_str().unwrap().len(), 32);
        assert_eq!(v["span_id"].as_str().unwrap().len(), 16);
        assert!(v["parent_span_id"].is_null());
        assert!(v.get("labels").is_none(), "no labels, no field: {v}");
        if let EventKind::Req(r) = &mut req.kind {
            r.labels.insert("tenant", "acme");
            r.labels.insert("plan", String::from("pro"));
        }
        let v = serde_json::to_value(EventRecord {
            service: "shop",
            event: &req,
        })
        .unwrap();
        assert_eq!(
            v["labels"],
            serde_json::json!({"tenant": "acme", "plan": "pro"})
        );

        let f = Event::function("load_user", "shop::users", 10, true);
        let v = serde_json::to_value(EventRecord {
            service: "s",
            event: &f,
        })
        .unwrap();
        assert_eq!(v["kind"], "fn");
        assert_eq!(v["name"], "load_user");
        assert_eq!(v["module"], "shop::users");
        assert_eq!(v["error"], true);

        let d = Event::query("SELECT * FROM t WHERE id = ?", "sqlite", Some(3), 10);
        let v = serde_json::to_value(EventRecord {
            service: "s",
            event: &d,
        })
        .unwrap();
        assert_eq!(v["kind"], "db");
        assert_eq!(v["statement"], "SELECT * FROM t WHERE id = ?");
        assert_eq!(v["system"], "sqlite");
        assert_eq!(v["rows"], 3);
        assert_eq!(v["error"], false);
    }
}
