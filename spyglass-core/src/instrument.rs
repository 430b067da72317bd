//! Runtime support for `#[spyglass::instrument]`. Not a stable API: the macro's expansion calls it.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::clock::Instant;
use crate::context::{ContextGuard, TraceContext};
use crate::event::{EventKind, FnEvent};
use crate::name::Name;

/// A function's identity, fixed at compile time.
#[derive(Debug)]
pub struct Callsite {
    /// Function name (`Type::method` for methods).
    pub name: &'static str,
    /// Module path.
    pub module: &'static str,
}

impl Callsite {
    /// A callsite.
    pub const fn new(name: &'static str, module: &'static str) -> Self {
        Callsite { name, module }
    }
}

fn finish(
    cs: &'static Callsite,
    span: TraceContext,
    start: Instant,
    error: bool,
    text: Option<Arc<str>>,
) {
    let kind = EventKind::Fn(FnEvent {
        name: Name::from_static(cs.name),
        module: Name::from_static(cs.module),
        error,
        error_text: text,
    });
    crate::global().emitter().emit_since(span, start, kind);
}

/// A sync call in progress: its span is current until [`finish`](Self::finish) or drop.
#[derive(Debug)]
pub struct SyncCall {
    cs: &'static Callsite,
    /// `None` when recording is off: then the call costs a load and a branch.
    state: Option<(TraceContext, Instant, ContextGuard)>,
}

/// Starts a sync call: a child span of the current context, made current.
#[inline]
pub fn enter(cs: &'static Callsite) -> SyncCall {
    let em = crate::global().emitter();
    if !em.is_enabled() {
        return SyncCall { cs, state: None };
    }
    let span = em.new_span();
    let guard = span.enter();
    SyncCall {
        cs,
        state: Some((span, Instant::now(), guard)),
    }
}

impl SyncCall {
    /// Ends the call, recording whether it failed.
    #[inline]
    pub fn finish(mut self, error: bool, text: Option<Arc<str>>) {
        if let Some((span, start, guard)) = self.state.take() {
            drop(guard);
            finish(self.cs, span, start, error, text);
        }
    }
}

impl Drop for SyncCall {
    fn drop(&mut self) {
        // Reached with state left only when the body panicked: record it as a failed call.
        if let Some((span, start, guard)) = self.state.take() {
            drop(guard);
            let panicking = std::thread::panicking();
            finish(
                self.cs,
                span,
                start,
                panicking,
                panicking.then(|| Arc::from("panicked")),
            );
        }
    }
}

pin_project_lite::pin_project! {
    /// An instrumented async body: runs in its span at every poll and records the call when it
    /// completes (or as failed if dropped while panicking).
    #[derive(Debug)]
    pub struct AsyncCall<F, C> {
        #[pin]
        inner: F,
        cs: &'static Callsite,
        // `None` when recording is off.
        span: Option<TraceContext>,
        start: Option<Instant>,
        classify: C,
        done: bool,
    }

    impl<F, C> PinnedDrop for AsyncCall<F, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.done && std::thread::panicking() {
                if let (Some(span), Some(start)) = (*this.span, *this.start) {
                    finish(this.cs, span, start, true, Some(Arc::from("panicked")));
                }
            }
        }
    }
}

/// Wraps an async body. `classify` tells from the output whether the call failed, and its error
/// text.
#[inline]
pub fn enter_async<F, C>(cs: &'static Callsite, inner: F, classify: C) -> AsyncCall<F, C>
where
    F: Future,
    C: FnMut(&F::Output) -> (bool, Option<Arc<str>>),
{
    let em = crate::global().emitter();
    AsyncCall {
        inner,
        cs,
        span: em.is_enabled().then(|| em.new_span()),
        start: None,
        classify,
        done: false,
    }
}

impl<F, C> Future for AsyncCall<F, C>
where
    F: Future,
    C: FnMut(&F::Output) -> (bool, Option<Arc<str>>),
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(span) = *this.span else {
            return this.inner.poll(cx);
        };
        let start = *this.start.get_or_insert_with(Instant::now);
        let out = {
            let _g = span.enter();
            this.inner.poll(cx)
        };
        match out {
            Poll::Ready(v) => {
                let (error, text) = (this.classify)(&v);
                *this.done = true;
                finish(this.cs, span, start, error, text);
                Poll::Ready(v)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Calls `f` once. The macro runs a sync body through it so the closure is `FnOnce` and may return
/// borrows of the function's arguments.
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Wraps an error for the autoref specialization the macro uses to take its text when it
/// implements `Display`.
#[derive(Debug)]
pub struct ErrText<'a, T: ?Sized>(pub &'a T);

/// Picked when the error implements `Display`.
pub trait ViaDisplay {
    /// The error's text.
    fn spyglass_error_text(&self) -> Option<Arc<str>>;
}

impl<T: Display + ?Sized> ViaDisplay for &ErrText<'_, T> {
    fn spyglass_error_text(&self) -> Option<Arc<str>> {
        Some(Arc::from(self.0.to_string()))
    }
}

/// Picked otherwise: no text.
pub trait ViaNothing {
    /// No text.
    fn spyglass_error_text(&self) -> Option<Arc<str>>;
}

impl<T: ?Sized> ViaNothing for ErrText<'_, T> {
    fn spyglass_error_text(&self) -> Option<Arc<str>> {
        None
    }
}
