//! What one request records, and the per-thread caches that keep the hot path allocation-free.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::HeaderValue;
use bytes::BytesMut;
use spyglass_core::event::{EventKind, ReqEvent};
use spyglass_core::{Event, Name, Spyglass, TraceContext};

use super::payload::BytesIn;

/// Which Spyglass instance a middleware records into.
#[derive(Debug, Clone)]
pub(crate) enum Instance {
    /// The global one, resolved at each request (so `install()` after building the app works).
    Global,
    /// A given one.
    Custom(Spyglass),
}

impl Instance {
    #[inline]
    pub(crate) fn get(&self) -> &Spyglass {
        match self {
            Instance::Global => spyglass_dashboard::global(),
            Instance::Custom(sg) => sg,
        }
    }
}

/// A request in flight. Emitted once, when the response body ends or is dropped.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) instance: Instance,
    pub(crate) ctx: TraceContext,
    pub(crate) start: Instant,
    pub(crate) method: &'static str,
    pub(crate) route: Name,
    pub(crate) status: u16,
    pub(crate) bytes_in: BytesIn,
    pub(crate) bytes_out: u64,
    pub(crate) error: Option<Arc<str>>,
}

impl Record {
    fn emit(self) {
        // One clock read: the start is the one taken on arrival, the timestamp derives from it.
        let dur_ns = self.start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        let ev = Event {
            ts_ns: spyglass_core::clock::unix_nanos_at(self.start),
            dur_ns,
            trace_id: self.ctx.trace_id(),
            span_id: self.ctx.span_id(),
            parent_span_id: self.ctx.parent_span_id(),
            sampled: self.ctx.is_sampled(),
            kind: EventKind::Req(ReqEvent {
                method: self.method,
                route: self.route,
                status: self.status,
                bytes_in: self.bytes_in.get(),
                bytes_out: self.bytes_out,
                error: self.error,
            }),
        };
        self.instance.get().emitter().emit(ev);
    }
}

/// Emits its record exactly once: when finished explicitly, or when dropped (client gone, or a body
/// the server never polls because it is empty).
#[derive(Debug, Default)]
pub(crate) struct Recorder(pub(crate) Option<Record>);

impl Recorder {
    #[inline]
    pub(crate) fn finish(&mut self) {
        if let Some(r) = self.0.take() {
            r.emit();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

const ROUTE_CACHE_MAX: usize = 1024;

thread_local! {
    // foldhash: route templates are the app's own, so a fast non-DoS-resistant hash is enough
    // (the cache is bounded anyway).
    static ROUTES: RefCell<HashMap<Box<str>, Name, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::default());
    static TRACEPARENTS: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// The route template as a shared [`Name`], interned per thread (actix workers are threads) so the
/// steady state makes no new name.
pub(crate) fn route_name(route: &str) -> Name {
    ROUTES
        .try_with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(n) = cache.get(route) {
                return n.clone();
            }
            let n = Name::from(Arc::<str>::from(route));
            if cache.len() < ROUTE_CACHE_MAX {
                cache.insert(route.into(), n.clone());
            }
            n
        })
        .unwrap_or_else(|_| Name::from(Arc::<str>::from(route)))
}

/// Bytes of one shared buffer, cut into `traceparent` values: one allocation per ~300 responses.
const TRACEPARENT_CHUNK: usize = 16 * 1024;

/// `ctx`'s `traceparent` header value, without a heap allocation in the steady state.
pub(crate) fn traceparent_value(ctx: &TraceContext) -> HeaderValue {
    let tp = ctx.to_traceparent();
    let make = |buf: &mut BytesMut| {
        if buf.capacity() - buf.len() < tp.as_bytes().len() {
            *buf = BytesMut::with_capacity(TRACEPARENT_CHUNK);
        }
        buf.extend_from_slice(tp.as_bytes());
        HeaderValue::from_maybe_shared(buf.split().freeze())
    };
    TRACEPARENTS
        .try_with(|b| make(&mut b.borrow_mut()))
        .unwrap_or_else(|_| make(&mut BytesMut::new()))
        .unwrap_or_else(|_| {
            HeaderValue::from_static("00-00000000000000000000000000000000-0000000000000000-00")
        })
}

/// The text of a panic payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> Arc<str> {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        Arc::from(*s)
    } else if let Some(s) = p.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("handler panicked")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_values_are_distinct_and_valid() {
        let a = TraceContext::new_root(true);
        let va = traceparent_value(&a);
        for _ in 0..2000 {
            let c = TraceContext::new_root(false);
            assert_eq!(
                traceparent_value(&c).as_bytes(),
                c.to_traceparent().as_bytes()
            );
        }
        assert_eq!(va.to_str().unwrap(), a.to_traceparent().as_str());
    }

    #[test]
    fn routes_are_interned() {
        let a = route_name("/users/{id}");
        let b = route_name("/users/{id}");
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "/users/{id}");
    }
}
