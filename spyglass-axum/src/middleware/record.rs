//! What one request records, and the per-thread caches that keep the hot path allocation-free.

use std::any::Any;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use spyglass_core::TraceContext;

pub(crate) use spyglass_dashboard::Instance;

/// The guard that emits a request once (shared with the actix middleware).
pub(crate) use spyglass_dashboard::Recorder;

/// A request in flight (shared with the actix middleware), with its request bytes.
pub(crate) type Record = spyglass_dashboard::RequestRecord<BytesIn>;

/// The `traceparent` header name as a constant: inserting it moves a static name instead of copying
/// a `&str` into a new allocation.
pub(crate) const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// The route of a request no route matched.
pub(crate) const UNMATCHED: spyglass_core::Name =
    spyglass_core::Name::from_static(crate::UNMATCHED);

/// The route template as a shared [`Name`], interned per thread so the steady state allocates nothing.
pub(crate) use spyglass_core::name::intern as route_name;

/// The text of a panic payload.
pub(crate) use spyglass_core::event::panic_message;

/// `ctx`'s `traceparent` header value, without a heap allocation in the steady state.
pub(crate) fn traceparent_value(ctx: &TraceContext) -> HeaderValue {
    HeaderValue::from_maybe_shared(spyglass_core::context::traceparent_bytes(ctx)).unwrap_or_else(
        |_| HeaderValue::from_static("00-00000000000000000000000000000000-0000000000000000-00"),
    )
}

/// Records a gRPC call's failure from its `grpc-status` (in the trailers, or in the headers of a
/// trailers-only response): the HTTP status of a gRPC call is 200 whatever its outcome. The codes
/// OpenTelemetry counts as a server's errors (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
/// UNAVAILABLE, DATA_LOSS) make the request an error, with `grpc-message` as its text; the others
/// (NOT_FOUND, INVALID_ARGUMENT, …) are the caller's, like a 4xx.
///
/// Returns the code, if the headers carry one.
#[inline(never)]
pub(crate) fn grpc_outcome(headers: &http::HeaderMap, rec: &mut Record) -> Option<u32> {
    const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
    const GRPC_MESSAGE: http::HeaderName = http::HeaderName::from_static("grpc-message");
    let code = headers
        .get(GRPC_STATUS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok())?;
    let name = match code {
        2 => "UNKNOWN",
        4 => "DEADLINE_EXCEEDED",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        _ => return Some(code),
    };
    let message = headers
        .get(GRPC_MESSAGE)
        .map(|m| percent_decode(m.as_bytes()))
        .filter(|m| !m.is_empty());
    rec.error = Some(Arc::from(match message {
        Some(m) => format!("gRPC {code} {name}: {m}"),
        None => format!("gRPC {code} {name}"),
    }));
    Some(code)
}

/// gRPC's UNIMPLEMENTED: the method named by the path does not exist.
pub(crate) const GRPC_UNIMPLEMENTED: u32 = 12;

/// `grpc-message` is percent-encoded (gRPC over HTTP/2 spec); malformed escapes pass as they are.
fn percent_decode(raw: &[u8]) -> String {
    percent_encoding::percent_decode(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// A request's body bytes: its exact size when it has one (a `Content-Length`, which hyper holds the
/// body to frame by frame), else counted as its frames pass to the handler.
#[derive(Debug)]
pub(crate) enum BytesIn {
    Known(u64),
    Counted(Arc<AtomicU64>),
}

impl spyglass_dashboard::BytesIn for BytesIn {
    fn bytes_in(&self) -> u64 {
        match self {
            BytesIn::Known(n) => *n,
            BytesIn::Counted(c) => c.load(Ordering::Relaxed),
        }
    }
}

/// The bytes of `body`: its exact size, or, for a body of unknown length (a chunked upload, a
/// streamed gRPC call), a count kept as its frames pass. Counting wraps the body, which must keep
/// its type: that is done for axum's `Body` (every request under `Router::layer`) and, with the
/// `tonic` feature, tonic's, at the cost of two allocations for such requests only. Any other body
/// type of unknown length is taken at its lower size bound.
pub(crate) fn bytes_in<B: Body + 'static>(body: &mut B) -> BytesIn {
    let hint = body.size_hint();
    if let Some(n) = hint.exact() {
        return BytesIn::Known(n);
    }
    count_unsized(body).unwrap_or(BytesIn::Known(hint.lower()))
}

#[cold]
#[inline(never)]
fn count_unsized<B: 'static>(body: &mut B) -> Option<BytesIn> {
    if let Some(body) = (body as &mut dyn Any).downcast_mut::<axum::body::Body>() {
        return Some(counted(body, axum::body::Body::new));
    }
    #[cfg(feature = "tonic")]
    if let Some(body) = (body as &mut dyn Any).downcast_mut::<tonic::body::Body>() {
        return Some(counted(body, tonic::body::Body::new));
    }
    None
}

/// Replaces `body` by `wrap` of itself counted.
fn counted<T: Default>(body: &mut T, wrap: impl FnOnce(Counting<T>) -> T) -> BytesIn {
    let counter = Arc::new(AtomicU64::new(0));
    let inner = std::mem::take(body);
    *body = wrap(Counting {
        inner,
        counter: counter.clone(),
    });
    BytesIn::Counted(counter)
}

pin_project! {
    /// A request body counting its data bytes as they pass.
    struct Counting<B> {
        #[pin]
        inner: B,
        counter: Arc<AtomicU64>,
    }
}

impl<B: Body> Body for Counting<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
            this.counter
                .fetch_add(data.remaining() as u64, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(
            percent_decode(b"store failed: 100%25 full"),
            "store failed: 100% full"
        );
        assert_eq!(percent_decode(b"check %E2%9C%93"), "check \u{2713}");
        // Malformed escapes pass through as they are.
        assert_eq!(percent_decode(b"50% off %zz %4"), "50% off %zz %4");
        assert_eq!(percent_decode(b"%FF"), "\u{FFFD}");
    }
}
