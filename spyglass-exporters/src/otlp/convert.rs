//! Spyglass events → OpenTelemetry spans and metric attributes.
//!
//! Attribute lists are built once per distinct key (route, function, statement) and cached, so the
//! collector does not rebuild and re-allocate the same strings for every event. Each cache is capped:
//! past [`CACHE_CAP`] entries it is cleared and rebuilt from the traffic, so memory stays bounded.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use spyglass_core::event::{DbEvent, Event, EventKind, FnEvent, ReqEvent};
use spyglass_core::Name;

/// Most distinct keys kept per cache before it is cleared.
pub(crate) const CACHE_CAP: usize = 4096;

/// Semantic-convention attribute keys used by the exporter.
pub(crate) mod keys {
    pub(crate) const HTTP_METHOD: &str = "http.request.method";
    pub(crate) const HTTP_ROUTE: &str = "http.route";
    pub(crate) const HTTP_STATUS: &str = "http.response.status_code";
    pub(crate) const HTTP_REQ_SIZE: &str = "http.request.body.size";
    pub(crate) const HTTP_RESP_SIZE: &str = "http.response.body.size";
    pub(crate) const ERROR_TYPE: &str = "error.type";
    pub(crate) const CODE_FUNCTION: &str = "code.function.name";
    pub(crate) const CODE_NAMESPACE: &str = "code.namespace";
    pub(crate) const DB_SYSTEM: &str = "db.system.name";
    pub(crate) const DB_QUERY_TEXT: &str = "db.query.text";
    pub(crate) const DB_QUERY_SUMMARY: &str = "db.query.summary";
    pub(crate) const DB_OPERATION: &str = "db.operation.name";
    pub(crate) const DB_ROWS: &str = "db.response.returned_rows";
    // autometrics label names, as in the Prometheus exporter.
    pub(crate) const FUNCTION: &str = "function";
    pub(crate) const MODULE: &str = "module";
    pub(crate) const RESULT: &str = "result";
}

fn shared(s: &str) -> Value {
    Value::String(Arc::<str>::from(s).into())
}

#[derive(Debug)]
pub(crate) struct ReqAttrs {
    /// `{method} {route}` (or `{method}` for unmatched requests).
    pub(crate) span_name: Cow<'static, str>,
    /// Method, route, status (and `error.type` for 5xx): the metric's attributes.
    pub(crate) attrs: Vec<KeyValue>,
}

#[derive(Debug)]
pub(crate) struct FnAttrs {
    pub(crate) span_name: Cow<'static, str>,
    pub(crate) span: Vec<KeyValue>,
    /// `function`, `module`: the duration histogram's attributes.
    pub(crate) metric: Vec<KeyValue>,
    /// `function`, `module`, `result="ok"`.
    pub(crate) calls_ok: Vec<KeyValue>,
    /// `function`, `module`, `result="error"`.
    pub(crate) calls_err: Vec<KeyValue>,
}

#[derive(Debug)]
pub(crate) struct DbAttrs {
    pub(crate) span_name: Cow<'static, str>,
    pub(crate) span: Vec<KeyValue>,
    /// `db.system.name`, `db.query.summary`, `db.operation.name`.
    pub(crate) metric: Vec<KeyValue>,
}

/// The Fx hash (as in rustc): keys are route templates, function names and statement fingerprints
/// chosen by the application's code, not by its clients, so a fast non-keyed hash is safe here and
/// several times cheaper than SipHash on the collector's per-event path.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Caches of attribute lists, one per event kind.
#[derive(Debug, Default)]
pub(crate) struct AttrCache {
    /// By method, route, status and whether an error was recorded with it.
    req: FxMap<(&'static str, Name, u16, bool), ReqAttrs>,
    func: FxMap<(Name, Name), FnAttrs>,
    db: FxMap<(Name, &'static str), DbAttrs>,
}

/// The cached value of `key`, built by `build` on a miss; a full cache is cleared first.
fn cached<K: std::hash::Hash + Eq, V>(
    m: &mut FxMap<K, V>,
    key: K,
    build: impl FnOnce() -> V,
) -> &V {
    if m.len() >= CACHE_CAP && !m.contains_key(&key) {
        m.clear();
    }
    m.entry(key).or_insert_with(build)
}

impl AttrCache {
    pub(crate) fn req(&mut self, r: &ReqEvent) -> &ReqAttrs {
        let key = (r.method, r.route.clone(), r.status, r.error.is_some());
        cached(&mut self.req, key, || build_req(r))
    }

    pub(crate) fn func(&mut self, f: &FnEvent) -> &FnAttrs {
        cached(&mut self.func, (f.name.clone(), f.module.clone()), || {
            build_fn(f)
        })
    }

    pub(crate) fn db(&mut self, d: &DbEvent) -> &DbAttrs {
        cached(&mut self.db, (d.statement.clone(), d.system), || {
            build_db(d)
        })
    }
}

fn build_req(r: &ReqEvent) -> ReqAttrs {
    let unmatched = r.route.as_str() == "<unmatched>";
    let span_name = if unmatched {
        Cow::Borrowed(r.method)
    } else {
        Cow::Owned(format!("{} {}", r.method, r.route.as_str()))
    };
    let mut attrs = vec![
        KeyValue::new(keys::HTTP_METHOD, r.method),
        KeyValue::new(keys::HTTP_ROUTE, shared(r.route.as_str())),
        KeyValue::new(keys::HTTP_STATUS, i64::from(r.status)),
    ];
    if r.status >= 500 {
        attrs.push(KeyValue::new(keys::ERROR_TYPE, r.status.to_string()));
    } else if r.error.is_some() {
        // Failed with a status below 500: a gRPC call's error (its HTTP status is 200).
        attrs.push(KeyValue::new(keys::ERROR_TYPE, "_OTHER"));
    }
    ReqAttrs { span_name, attrs }
}

fn build_fn(f: &FnEvent) -> FnAttrs {
    let name = f.name.as_str();
    let module = f.module.as_str();
    let qualified = if module.is_empty() {
        name.to_string()
    } else {
        format!("{module}::{name}")
    };
    let mut span = vec![KeyValue::new(keys::CODE_FUNCTION, qualified)];
    if !module.is_empty() {
        span.push(KeyValue::new(keys::CODE_NAMESPACE, shared(module)));
    }
    let metric = vec![
        KeyValue::new(keys::FUNCTION, shared(name)),
        KeyValue::new(keys::MODULE, shared(module)),
    ];
    let mut calls_ok = metric.clone();
    calls_ok.push(KeyValue::new(keys::RESULT, "ok"));
    let mut calls_err = metric.clone();
    calls_err.push(KeyValue::new(keys::RESULT, "error"));
    FnAttrs {
        span_name: Cow::Owned(name.to_string()),
        span,
        metric,
        calls_ok,
        calls_err,
    }
}

fn build_db(d: &DbEvent) -> DbAttrs {
    let (op, summary) = query_summary(d.statement.as_str());
    let summary: Value = match &summary {
        Some(s) => shared(s),
        None => Value::from(d.system),
    };
    let mut metric = vec![
        KeyValue::new(keys::DB_SYSTEM, d.system),
        KeyValue::new(keys::DB_QUERY_SUMMARY, summary.clone()),
    ];
    if let Some(op) = &op {
        metric.push(KeyValue::new(keys::DB_OPERATION, shared(op)));
    }
    let mut span = metric.clone();
    span.push(KeyValue::new(
        keys::DB_QUERY_TEXT,
        shared(d.statement.as_str()),
    ));
    DbAttrs {
        span_name: Cow::Owned(summary.as_str().into_owned()),
        span,
        metric,
    }
}

/// The operation (`SELECT`) and a low-cardinality summary (`SELECT users`) of a redacted statement,
/// as OpenTelemetry's `db.operation.name` and `db.query.summary`.
pub(crate) fn query_summary(statement: &str) -> (Option<String>, Option<String>) {
    let mut words = statement
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',' || c == ';')
        .filter(|w| !w.is_empty());
    let Some(first) = words.next() else {
        return (None, None);
    };
    if !first.chars().all(|c| c.is_ascii_alphabetic()) {
        return (None, None);
    }
    let op = first.to_ascii_uppercase();
    let target_after: &[&str] = match op.as_str() {
        "SELECT" | "DELETE" => &["FROM"],
        "INSERT" | "REPLACE" => &["INTO"],
        "UPDATE" => &[],
        _ => return (Some(op.clone()), Some(op)),
    };
    let target = if target_after.is_empty() {
        words.next()
    } else {
        words
            .by_ref()
            .skip_while(|w| !target_after.iter().any(|t| w.eq_ignore_ascii_case(t)))
            .nth(1)
    };
    let target = target
        .map(|t| t.trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']'))
        .filter(|t| !t.is_empty() && t.len() <= 64 && !t.contains('?'));
    let summary = match target {
        Some(t) => format!("{op} {t}"),
        None => op.clone(),
    };
    (Some(op), Some(summary))
}

fn time(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// Builds the span of one event, with Spyglass's exact trace, span and parent ids.
pub(crate) fn span(ev: &Event, cache: &mut AttrCache, scope: &InstrumentationScope) -> SpanData {
    let span_context = SpanContext::new(
        TraceId::from_bytes(ev.trace_id.to_bytes()),
        SpanId::from_bytes(ev.span_id.to_bytes()),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let parent_span_id = ev
        .parent_span_id
        .map_or(SpanId::INVALID, |p| SpanId::from_bytes(p.to_bytes()));
    let (span_kind, name, attributes, status, parent_remote) = match &ev.kind {
        EventKind::Req(r) => {
            let a = cache.req(r);
            let mut attrs = Vec::with_capacity(a.attrs.len() + 2 + r.labels.len());
            attrs.extend_from_slice(&a.attrs);
            if r.bytes_in > 0 {
                attrs.push(KeyValue::new(keys::HTTP_REQ_SIZE, r.bytes_in as i64));
            }
            if r.bytes_out > 0 {
                attrs.push(KeyValue::new(keys::HTTP_RESP_SIZE, r.bytes_out as i64));
            }
            // The user's labels, as given: span attributes carry any key (they are never metric
            // attributes, whose values must stay bounded). A span's keys are unique: a label
            // named like one of the attributes above is left out.
            for (k, v) in r.labels.iter() {
                if !attrs.iter().any(|a| a.key.as_str() == k) {
                    attrs.push(KeyValue::new(k.to_owned(), v.to_owned()));
                }
            }
            // Server spans: 5xx (or a panic) is an error, 4xx is the client's.
            let status = if ev.is_error() {
                Status::error(
                    r.error
                        .as_deref()
                        .map_or_else(|| format!("HTTP {}", r.status), str::to_string),
                )
            } else {
                Status::Unset
            };
            // A request's parent is the caller's span, received in `traceparent`.
            let remote = ev.parent_span_id.is_some();
            (SpanKind::Server, a.span_name.clone(), attrs, status, remote)
        }
        EventKind::Fn(f) => {
            let a = cache.func(f);
            let mut attrs = Vec::with_capacity(a.span.len() + 1);
            attrs.extend_from_slice(&a.span);
            let status = if f.error {
                attrs.push(KeyValue::new(keys::ERROR_TYPE, "error"));
                Status::error(f.error_text.as_deref().unwrap_or("error").to_string())
            } else {
                Status::Unset
            };
            (
                SpanKind::Internal,
                a.span_name.clone(),
                attrs,
                status,
                false,
            )
        }
        EventKind::Db(d) => {
            let a = cache.db(d);
            let mut attrs = Vec::with_capacity(a.span.len() + 2);
            attrs.extend_from_slice(&a.span);
            if let Some(rows) = d.rows {
                attrs.push(KeyValue::new(
                    keys::DB_ROWS,
                    rows.min(i64::MAX as u64) as i64,
                ));
            }
            let status = if d.error {
                attrs.push(KeyValue::new(keys::ERROR_TYPE, "error"));
                Status::error(d.error_text.as_deref().unwrap_or("error").to_string())
            } else {
                Status::Unset
            };
            (SpanKind::Client, a.span_name.clone(), attrs, status, false)
        }
    };
    SpanData {
        span_context,
        parent_span_id,
        parent_span_is_remote: parent_remote,
        span_kind,
        name,
        start_time: time(ev.ts_ns),
        end_time: time(ev.ts_ns.saturating_add(ev.dur_ns)),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_low_cardinality() {
        let s = |q| query_summary(q).1;
        assert_eq!(
            s("SELECT * FROM users WHERE id = ?").as_deref(),
            Some("SELECT users")
        );
        assert_eq!(
            s("select id from \"orders\" o join items i on ?").as_deref(),
            Some("SELECT orders")
        );
        assert_eq!(
            s("INSERT INTO items (a, b) VALUES (?, ?)").as_deref(),
            Some("INSERT items")
        );
        assert_eq!(s("UPDATE users SET a = ?").as_deref(), Some("UPDATE users"));
        assert_eq!(s("DELETE FROM t WHERE x = ?").as_deref(), Some("DELETE t"));
        assert_eq!(s("BEGIN").as_deref(), Some("BEGIN"));
        assert_eq!(s("SELECT ?").as_deref(), Some("SELECT"));
        assert_eq!(s("").as_deref(), None);
        assert_eq!(query_summary("select 1").0.as_deref(), Some("SELECT"));
    }

    #[test]
    fn spans_keep_spyglass_ids_and_kinds() {
        let scope = InstrumentationScope::builder("spyglass").build();
        let mut cache = AttrCache::default();
        let req = Event::request("GET", "/users/{id}", 503, 2_000);
        let s = span(&req, &mut cache, &scope);
        assert_eq!(s.span_kind, SpanKind::Server);
        assert_eq!(s.name, "GET /users/{id}");
        assert_eq!(
            s.span_context.trace_id().to_bytes(),
            req.trace_id.to_bytes()
        );
        assert_eq!(s.span_context.span_id().to_bytes(), req.span_id.to_bytes());
        assert_eq!(s.parent_span_id, SpanId::INVALID);
        assert!(matches!(s.status, Status::Error { .. }));
        assert_eq!(
            s.end_time.duration_since(s.start_time).unwrap(),
            Duration::from_nanos(2_000)
        );

        let f = Event::function("load", "shop::users", 10, false);
        let s = span(&f, &mut cache, &scope);
        assert_eq!(s.span_kind, SpanKind::Internal);
        assert!(s
            .attributes
            .contains(&KeyValue::new(keys::CODE_FUNCTION, "shop::users::load")));
        assert_eq!(s.status, Status::Unset);

        let q = Event::query("SELECT * FROM t WHERE id = ?", "sqlite", Some(2), 10);
        let s = span(&q, &mut cache, &scope);
        assert_eq!(s.span_kind, SpanKind::Client);
        assert_eq!(s.name, "SELECT t");
        assert!(s.attributes.contains(&KeyValue::new(keys::DB_ROWS, 2i64)));
    }

    #[test]
    fn a_failure_below_500_is_an_error_of_type_other() {
        let mut cache = AttrCache::default();
        let ok = Event::request("POST", "/svc.Feed/Get", 200, 10);
        let mut failed = ok.clone();
        if let EventKind::Req(r) = &mut failed.kind {
            r.error = Some("gRPC 14 UNAVAILABLE".into());
        }
        let error_type = |ev: &Event, cache: &mut AttrCache| {
            let EventKind::Req(r) = &ev.kind else {
                unreachable!()
            };
            cache
                .req(r)
                .attrs
                .iter()
                .find(|a| a.key.as_str() == keys::ERROR_TYPE)
                .map(|a| a.value.to_string())
        };
        assert_eq!(error_type(&ok, &mut cache), None);
        assert_eq!(error_type(&failed, &mut cache).as_deref(), Some("_OTHER"));
        assert_eq!(error_type(&ok, &mut cache), None, "cached apart");
    }

    #[test]
    fn caches_stay_bounded() {
        let mut cache = AttrCache::default();
        for i in 0..(CACHE_CAP * 2 + 10) {
            let ev = Event::request("GET", format!("/r{i}"), 200, 1);
            if let EventKind::Req(r) = &ev.kind {
                cache.req(r);
            }
        }
        assert!(cache.req.len() <= CACHE_CAP);
    }
}
