//! Trace context: W3C trace and span ids that follow a request through functions, tasks and queries.
//!
//! The current context lives in a thread-local slot. Futures carry it across `.await` points and
//! executor threads with [`WithContext`] (made by [`TraceContext::scope`] or
//! [`FutureExt::in_current_context`]), which installs the context each time the future is polled and
//! restores the previous one afterwards — the same mechanism as `tracing`'s `Instrumented`. Sync code
//! uses [`TraceContext::in_scope`], and a closure handed to another thread takes the context along
//! with [`in_current_context`]. Reading the context is a thread-local load: no lock, no allocation.
//!
//! # Example
//!
//! ```
//! use spyglass_core::context::{self, FutureExt, TraceContext};
//!
//! let root = TraceContext::new_root(true);
//! root.in_scope(|| {
//!     assert_eq!(context::current().unwrap().trace_id(), root.trace_id());
//!     // A child span of the current context, e.g. for a function call:
//!     let child = context::current().unwrap().child();
//!     assert_eq!(child.parent_span_id(), Some(root.span_id()));
//!     // A future spawned from here keeps the context wherever it runs:
//!     let fut = async { context::current().map(|c| c.trace_id()) }.in_current_context();
//!     # drop(fut);
//! });
//! assert!(context::current().is_none());
//! ```

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::num::{NonZeroU128, NonZeroU64};
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

/// A 16-byte W3C trace id. Never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// An 8-byte W3C span id. Never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    /// A new random trace id (fast non-cryptographic RNG, never zero).
    #[inline]
    pub fn random() -> Self {
        loop {
            if let Some(v) = NonZeroU128::new(fastrand::u128(..)) {
                return TraceId(v);
            }
        }
    }

    /// The id from its 16 big-endian bytes; `None` for the invalid all-zero id.
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        Self::from_u128(u128::from_be_bytes(bytes))
    }

    /// The id from its numeric value; `None` for zero.
    pub fn from_u128(v: u128) -> Option<Self> {
        NonZeroU128::new(v).map(TraceId)
    }

    /// The 16 big-endian bytes, as carried on the wire.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }

    /// The numeric value.
    pub fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// Lower-case hex, 32 characters, without allocating.
    pub fn to_hex(self) -> HexId<32> {
        let v = self.0.get();
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&hex_u64((v >> 64) as u64));
        out[16..].copy_from_slice(&hex_u64(v as u64));
        HexId(out)
    }
}

impl SpanId {
    /// A new random span id (fast non-cryptographic RNG, never zero).
    #[inline]
    pub fn random() -> Self {
        loop {
            if let Some(v) = NonZeroU64::new(fastrand::u64(..)) {
                return SpanId(v);
            }
        }
    }

    /// The id from its 8 big-endian bytes; `None` for the invalid all-zero id.
    pub fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        Self::from_u64(u64::from_be_bytes(bytes))
    }

    /// The id from its numeric value; `None` for zero.
    pub fn from_u64(v: u64) -> Option<Self> {
        NonZeroU64::new(v).map(SpanId)
    }

    /// The 8 big-endian bytes, as carried on the wire.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    /// The numeric value.
    pub fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// Lower-case hex, 16 characters, without allocating.
    pub fn to_hex(self) -> HexId<16> {
        HexId(hex_u64(self.0.get()))
    }
}

/// An id rendered as lower-case hex on the stack; `Display` and `as_str` without allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexId<const N: usize>([u8; N]);

/// `v` as 16 lower-case hex digits, most significant first, computed on whole words (no table, no
/// loop): each nibble is spread into a byte of its own, then turned into its ASCII digit.
#[inline]
fn hex_u64(v: u64) -> [u8; 16] {
    /// The 8 nibbles of `x`, one per byte, the most significant in the highest byte.
    #[inline]
    fn spread(x: u32) -> u64 {
        let x = u64::from(x);
        let x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
        let x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
        (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F
    }
    /// Each byte's nibble (0..=15) as its ASCII digit: `'0' + n`, plus 39 more for `a`..=`f`
    /// (n + 6 carries into bit 4 exactly when n >= 10; no byte overflows into the next).
    #[inline]
    fn ascii(n: u64) -> u64 {
        let letters = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        n + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&ascii(spread((v >> 32) as u32)).to_be_bytes());
    out[8..].copy_from_slice(&ascii(spread(v as u32)).to_be_bytes());
    out
}

impl<const N: usize> HexId<N> {
    /// The hex text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Display for HexId<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for HexId<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! hex_fmt {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.to_hex(), f)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.to_hex(), f)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.to_hex().as_str())
            }
        }
    };
}
hex_fmt!(TraceId);
hex_fmt!(SpanId);

/// The trace context of the current unit of work: which trace it belongs to, its own span, its parent.
///
/// `Copy` and 40 bytes: it is passed by value everywhere and never allocates.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    sampled: bool,
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("parent_span_id", &self.parent_span_id)
            .field("sampled", &self.sampled)
            .finish()
    }
}

impl TraceContext {
    /// A new trace: random trace and span ids, no parent.
    ///
    /// `sampled` records whether this trace's events are exported (stats count them either way).
    pub fn new_root(sampled: bool) -> Self {
        TraceContext {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_span_id: None,
            sampled,
        }
    }

    /// A context from its parts, e.g. one received from another system.
    pub fn from_parts(
        trace_id: TraceId,
        span_id: SpanId,
        parent_span_id: Option<SpanId>,
        sampled: bool,
    ) -> Self {
        TraceContext {
            trace_id,
            span_id,
            parent_span_id,
            sampled,
        }
    }

    /// A child span: same trace and sampling decision, new span id, this span as parent.
    #[inline]
    pub fn child(&self) -> Self {
        TraceContext {
            trace_id: self.trace_id,
            span_id: SpanId::random(),
            parent_span_id: Some(self.span_id),
            sampled: self.sampled,
        }
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// This span's id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The parent span's id; `None` for a root span.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.parent_span_id
    }

    /// Whether events of this trace are exported (the sampling decision, W3C `sampled` flag).
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The same context with another sampling decision.
    pub fn with_sampled(mut self, sampled: bool) -> Self {
        self.sampled = sampled;
        self
    }

    /// Runs `f` with this context as the current one, restoring the previous one afterwards (also on
    /// panic).
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// Makes this the current context of this thread until the guard drops.
    ///
    /// For sync code; in async code use [`scope`](Self::scope), since a guard held across `.await`
    /// would leak the context into other tasks polled on the same thread.
    pub fn enter(&self) -> ContextGuard {
        ContextGuard {
            prev: CURRENT.with(|c| c.replace(Some(*self))),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Wraps `fut` so that it runs with this context as the current one at every poll.
    pub fn scope<F: Future>(self, fut: F) -> WithContext<F> {
        WithContext {
            inner: fut,
            ctx: Some(self),
        }
    }

    /// The W3C `traceparent` header value: `00-{trace_id}-{span_id}-{flags}`, on the stack.
    pub fn to_traceparent(&self) -> Traceparent {
        let mut out = [0u8; 55];
        out[0] = b'0';
        out[1] = b'0';
        out[2] = b'-';
        out[3..35].copy_from_slice(&self.trace_id.to_hex().0);
        out[35] = b'-';
        out[36..52].copy_from_slice(&self.span_id.to_hex().0);
        out[52] = b'-';
        out[53] = b'0';
        out[54] = if self.sampled { b'1' } else { b'0' };
        Traceparent(out)
    }

    /// Parses a W3C `traceparent` header value.
    ///
    /// The result is the *remote parent*: its `span_id` is the caller's span. Continue the trace with
    /// [`child`](Self::child). A malformed value is an error, never a panic.
    pub fn from_traceparent(value: &[u8]) -> Result<Self, TraceparentError> {
        parse_traceparent(value)
    }
}

/// A rendered `traceparent` header value (55 ASCII bytes on the stack).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Traceparent([u8; 55]);

impl Traceparent {
    /// The header text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The header bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a `traceparent` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceparentError {
    /// Shorter than the 55 bytes of version 00, or longer without a `-` after the flags.
    #[error("traceparent has the wrong length ({0} bytes)")]
    Length(usize),
    /// A field is not lower-case hex or a separator is missing.
    #[error("traceparent is not of the form 00-<32 hex>-<16 hex>-<2 hex>")]
    Format,
    /// Version `ff` is forbidden by the W3C spec.
    #[error("traceparent version ff is invalid")]
    InvalidVersion,
    /// Version 00 must be exactly 55 bytes.
    #[error("traceparent version 00 must not carry extra fields")]
    TrailingData,
    /// The trace id is all zeros.
    #[error("traceparent trace id is all zeros")]
    ZeroTraceId,
    /// The parent span id is all zeros.
    #[error("traceparent parent id is all zeros")]
    ZeroSpanId,
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

fn parse_hex<const N: usize>(s: &[u8]) -> Result<[u8; N], TraceparentError> {
    let mut out = [0u8; N];
    if s.len() != 2 * N {
        return Err(TraceparentError::Format);
    }
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(TraceparentError::Format)?;
        let lo = hex_val(pair[1]).ok_or(TraceparentError::Format)?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

fn parse_traceparent(v: &[u8]) -> Result<TraceContext, TraceparentError> {
    // Tolerate surrounding optional whitespace, as HTTP header values may carry it.
    let v = v.trim_ascii();
    if v.len() < 55 {
        return Err(TraceparentError::Length(v.len()));
    }
    let [version] = parse_hex::<1>(&v[0..2])?;
    if version == 0xff {
        return Err(TraceparentError::InvalidVersion);
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return Err(TraceparentError::Format);
    }
    if v.len() > 55 {
        if version == 0 {
            return Err(TraceparentError::TrailingData);
        }
        // Future versions may append fields after a dash.
        if v[55] != b'-' {
            return Err(TraceparentError::Length(v.len()));
        }
    }
    let trace = parse_hex::<16>(&v[3..35])?;
    let span = parse_hex::<8>(&v[36..52])?;
    let [flags] = parse_hex::<1>(&v[53..55])?;
    let trace_id = TraceId::from_bytes(trace).ok_or(TraceparentError::ZeroTraceId)?;
    let span_id = SpanId::from_bytes(span).ok_or(TraceparentError::ZeroSpanId)?;
    Ok(TraceContext {
        trace_id,
        span_id,
        parent_span_id: None,
        sampled: flags & 1 == 1,
    })
}

impl FromStr for TraceContext {
    type Err = TraceparentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_traceparent(s.as_bytes())
    }
}

thread_local! {
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
}

/// The current trace context of this task or thread, if any.
#[inline]
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(Cell::get).ok().flatten()
}

/// Restores the previous context when dropped; made by [`TraceContext::enter`].
#[derive(Debug)]
pub struct ContextGuard {
    prev: Option<TraceContext>,
    // The slot is per thread: the guard must drop on the thread that made it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

pin_project_lite::pin_project! {
    /// A future that runs with a trace context installed at every poll.
    ///
    /// Made by [`TraceContext::scope`] and [`FutureExt::in_current_context`].
    #[derive(Debug)]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        ctx: Option<TraceContext>,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let prev = CURRENT.with(|c| c.replace(*this.ctx));
        struct Restore(Option<TraceContext>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = CURRENT.try_with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(prev);
        this.inner.poll(cx)
    }
}

/// Carries trace context into futures, e.g. `tokio::spawn(work.in_current_context())`.
pub trait FutureExt: Future + Sized {
    /// Wraps the future so it runs in the context that is current now (or in none, if none is).
    fn in_current_context(self) -> WithContext<Self> {
        WithContext {
            inner: self,
            ctx: current(),
        }
    }

    /// Wraps the future so it runs in `ctx`.
    fn with_context(self, ctx: TraceContext) -> WithContext<Self> {
        ctx.scope(self)
    }
}

impl<F: Future> FutureExt for F {}

/// Wraps the closure `f` so it runs in the trace context that is current now (or in none, if none
/// is): the closure counterpart of [`FutureExt::in_current_context`], for work handed to another
/// thread — a blocking pool (`tokio::task::spawn_blocking`, actix-web's `web::block`), deadpool's
/// `interact`, `std::thread::spawn` — so the functions and queries it records nest under the
/// current request.
///
/// ```
/// use spyglass_core::context::{self, TraceContext};
///
/// let root = TraceContext::new_root(true);
/// let job = root.in_scope(|| context::in_current_context(|| context::current()));
/// let seen = std::thread::spawn(job).join().unwrap();
/// assert_eq!(seen, Some(root));
/// ```
pub fn in_current_context<F, R>(f: F) -> impl FnOnce() -> R + Send
where
    F: FnOnce() -> R + Send,
{
    let ctx = current();
    move || match ctx {
        Some(c) => c.in_scope(f),
        None => f(),
    }
}

/// Writes the current context's `traceparent` into outgoing request headers, so a downstream service
/// continues this trace. Does nothing when there is no current context.
pub fn inject(headers: &mut http::HeaderMap) {
    if let Some(ctx) = current() {
        inject_context(&ctx, headers);
    }
}

/// Writes `ctx`'s `traceparent` into `headers`.
pub fn inject_context(ctx: &TraceContext, headers: &mut http::HeaderMap) {
    let tp = ctx.to_traceparent();
    if let Ok(v) = http::HeaderValue::from_bytes(tp.as_bytes()) {
        headers.insert(TRACEPARENT_HEADER, v);
    }
}

/// The `traceparent` header name, built once: looking a header up by it skips parsing the name.
const TRACEPARENT_HEADER: http::HeaderName = http::HeaderName::from_static(TRACEPARENT);

/// Reads a `traceparent` from incoming request headers (the remote parent), `None` when absent or
/// malformed.
pub fn extract(headers: &http::HeaderMap) -> Option<TraceContext> {
    headers
        .get(TRACEPARENT_HEADER)
        .and_then(|v| TraceContext::from_traceparent(v.as_bytes()).ok())
}

/// Bytes of one shared buffer, cut into `traceparent` values: small, so the allocator hands back a
/// recently freed (cache-warm) block each time, rather than a large cold one.
const TRACEPARENT_CHUNK: usize = 4096;

thread_local! {
    static TRACEPARENTS: std::cell::RefCell<bytes::BytesMut> =
        std::cell::RefCell::new(bytes::BytesMut::new());
}

/// `ctx`'s `traceparent` value as shared [`bytes::Bytes`], cut from a per-thread buffer: no heap
/// allocation in the steady state. For response headers:
/// `HeaderValue::from_maybe_shared(traceparent_bytes(&ctx))`.
pub fn traceparent_bytes(ctx: &TraceContext) -> bytes::Bytes {
    let tp = ctx.to_traceparent();
    let make = |buf: &mut bytes::BytesMut| {
        if buf.capacity() - buf.len() < tp.as_bytes().len() {
            // Takes the whole buffer back when every value cut from it has been dropped (the usual
            // case: a response's headers are written and dropped long before 74 more are made), so
            // the same few warm kilobytes serve every response; else allocates a fresh one.
            buf.reserve(TRACEPARENT_CHUNK);
        }
        buf.extend_from_slice(tp.as_bytes());
        buf.split().freeze()
    };
    TRACEPARENTS
        .try_with(|b| make(&mut b.borrow_mut()))
        .unwrap_or_else(|_| make(&mut bytes::BytesMut::new()))
}

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn hex_matches_the_formatter() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut values: Vec<u128> = (0..10_000).map(|_| rng.u128(..)).collect();
        values.extend([
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            0xa << 124,
            9,
        ]);
        for v in values {
            let Some(t) = TraceId::from_u128(v) else {
                continue;
            };
            assert_eq!(t.to_hex().as_str(), format!("{v:032x}"));
            let s = SpanId::from_u64(v as u64).unwrap_or_else(|| SpanId::from_u64(1).unwrap());
            assert_eq!(s.to_hex().as_str(), format!("{:016x}", s.to_u64()));
        }
    }

    #[test]
    fn traceparent_round_trip() {
        let ctx: TraceContext = GOOD.parse().unwrap();
        assert_eq!(
            ctx.trace_id().to_hex().as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(ctx.span_id().to_hex().as_str(), "00f067aa0ba902b7");
        assert!(ctx.is_sampled());
        assert_eq!(ctx.to_traceparent().as_str(), GOOD);
        let unsampled = ctx.with_sampled(false).to_traceparent();
        assert!(unsampled.as_str().ends_with("-00"));
    }

    #[test]
    fn malformed_traceparents_are_typed_errors() {
        use TraceparentError::*;
        let cases: &[(&str, TraceparentError)] = &[
            ("", Length(0)),
            ("00-abc", Length(6)),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                InvalidVersion,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                Format,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                ZeroTraceId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                ZeroSpanId,
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Format,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                TrailingData,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
                Format,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                TraceContext::from_traceparent(input.as_bytes()).unwrap_err(),
                *want,
                "{input}"
            );
        }
        // A future version may append fields.
        let v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert!(TraceContext::from_traceparent(v1.as_bytes()).is_ok());
    }

    #[test]
    fn parser_never_panics_on_junk() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let len = rng.usize(0..80);
            let bytes: Vec<u8> = (0..len)
                .map(|_| *rng.choice(b"0123456789abcdefABCDEF-_ \xff").unwrap())
                .collect();
            let _ = TraceContext::from_traceparent(&bytes);
        }
    }

    #[test]
    fn scope_nests_and_restores() {
        assert!(current().is_none());
        let root = TraceContext::new_root(true);
        root.in_scope(|| {
            let child = current().unwrap().child();
            child.in_scope(|| {
                let c = current().unwrap();
                assert_eq!(c.trace_id(), root.trace_id());
                assert_eq!(c.parent_span_id(), Some(root.span_id()));
            });
            assert_eq!(current(), Some(root));
        });
        assert!(current().is_none());
    }

    #[test]
    fn in_scope_restores_on_panic() {
        let root = TraceContext::new_root(true);
        let r = std::panic::catch_unwind(|| root.in_scope(|| panic!("boom")));
        assert!(r.is_err());
        assert!(current().is_none());
    }

    #[test]
    fn traceparent_bytes_are_distinct_and_valid() {
        let a = TraceContext::new_root(true);
        let va = traceparent_bytes(&a);
        for _ in 0..3000 {
            let c = TraceContext::new_root(false);
            assert_eq!(&traceparent_bytes(&c)[..], c.to_traceparent().as_bytes());
        }
        assert_eq!(&va[..], a.to_traceparent().as_bytes());
    }

    #[test]
    fn inject_and_extract_headers() {
        let mut h = http::HeaderMap::new();
        inject(&mut h);
        assert!(h.is_empty());
        let root = TraceContext::new_root(true);
        root.in_scope(|| inject(&mut h));
        let got = extract(&h).unwrap();
        assert_eq!(got.trace_id(), root.trace_id());
        assert_eq!(got.span_id(), root.span_id());
        h.insert(TRACEPARENT, http::HeaderValue::from_static("garbage"));
        assert!(extract(&h).is_none());
    }
}
