use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{header, HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;
use spyglass_core::context::WithContext;

use super::body::ResponseBody;
use super::hooks::OnResponse;
use super::record::{
    grpc_outcome, panic_message, traceparent_value, Record, Recorder, GRPC_UNIMPLEMENTED,
    TRACEPARENT, UNMATCHED,
};

pin_project! {
    /// The response future of [`Spyglass`](super::Spyglass): polls the inner future inside the
    /// request's trace context, catches a panic into a 500, and hands the record to the body.
    /// Dropped before its response is ready (the client went away, or an outer timeout gave up),
    /// it records the request with status [`CANCELLED_STATUS`](spyglass_dashboard::CANCELLED_STATUS).
    pub struct ResponseFuture<F, B, OnResp> {
        #[pin]
        state: State<F, B>,
        rec: Option<Record>,
        on_response: Option<OnResp>,
        // The route is the raw path (`route_from_path`): a path the service does not know is
        // recorded as `<unmatched>`, so scanners' paths make no rows.
        path_route: bool,
    }

    impl<F, B, OnResp> PinnedDrop for ResponseFuture<F, B, OnResp> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(rec) = this.project().rec.take() {
                rec.emit_cancelled();
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Recording { #[pin] fut: WithContext<F> },
        Passthrough { #[pin] fut: F },
        Ready { resp: Option<Response<ResponseBody<B>>> },
    }
}

impl<F, B, OnResp> std::fmt::Debug for ResponseFuture<F, B, OnResp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("record", &self.rec)
            .finish()
    }
}

fn internal_error<B>(rec: Record) -> Response<ResponseBody<B>> {
    let tp = traceparent_value(&rec.ctx);
    let mut resp = Response::new(ResponseBody::recorded_full(
        bytes::Bytes::from_static(b"Internal Server Error"),
        rec,
    ));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(TRACEPARENT, tp);
    resp
}

/// The 500 that replaces a response whose `on_response` hook panicked.
#[cold]
fn hook_panicked<B>(
    mut rec: Record,
    panic: &(dyn std::any::Any + Send),
) -> Response<ResponseBody<B>> {
    rec.status = 500;
    rec.error = Some(panic_message(panic));
    internal_error(rec)
}

impl<F, B, OnResp> ResponseFuture<F, B, OnResp> {
    pub(crate) fn recording(
        fut: WithContext<F>,
        rec: Record,
        on_response: Option<OnResp>,
        path_route: bool,
    ) -> Self {
        ResponseFuture {
            state: State::Recording { fut },
            rec: Some(rec),
            on_response,
            path_route,
        }
    }

    pub(crate) fn passthrough(fut: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { fut },
            rec: None,
            on_response: None,
            path_route: false,
        }
    }

    pub(crate) fn ready(resp: Response<ResponseBody<B>>) -> Self {
        ResponseFuture {
            state: State::Ready { resp: Some(resp) },
            rec: None,
            on_response: None,
            path_route: false,
        }
    }

    pub(crate) fn panicked(mut rec: Record, msg: Arc<str>) -> Self {
        rec.status = 500;
        rec.error = Some(msg);
        ResponseFuture {
            state: State::Ready {
                resp: Some(internal_error(rec)),
            },
            rec: None,
            on_response: None,
            path_route: false,
        }
    }
}

impl<F, B, E, OnResp> Future for ResponseFuture<F, B, OnResp>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    OnResp: OnResponse<B>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = match this.state.as_mut().project() {
            StateProj::Passthrough { fut } => {
                let res = ready!(fut.poll(cx));
                return Poll::Ready(res.map(|r| r.map(ResponseBody::plain)));
            }
            StateProj::Ready { resp } => {
                return Poll::Ready(Ok(resp
                    .take()
                    .expect("ResponseFuture polled after completion")));
            }
            StateProj::Recording { fut } => panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))),
        };
        // The record stays in place while the inner future is pending: it is moved out once.
        let polled = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(panic) => Err(panic),
        };
        let mut rec = this
            .rec
            .take()
            .expect("ResponseFuture polled after completion");
        match polled {
            Ok(Ok(mut resp)) => {
                rec.status = resp.status().as_u16();
                let grpc = if resp.body().is_end_stream() {
                    // No body to carry trailers: a gRPC error answered trailers-only.
                    grpc_outcome(resp.headers(), &mut rec)
                } else {
                    None
                };
                if *this.path_route && (rec.status == 404 || grpc == Some(GRPC_UNIMPLEMENTED)) {
                    rec.route = UNMATCHED;
                }
                if let Some(hook) = this.on_response.take() {
                    let hooked = panic::catch_unwind(AssertUnwindSafe(|| {
                        hook.on_response(&resp, rec.start.elapsed(), &rec.ctx, &mut rec.labels)
                    }));
                    if let Err(p) = hooked {
                        // As a panicking handler: the service's response is dropped (its head
                        // was not sent), and a 500 with the panic message answers instead.
                        return Poll::Ready(Ok(hook_panicked(rec, &*p)));
                    }
                }
                resp.headers_mut()
                    .insert(TRACEPARENT, traceparent_value(&rec.ctx));
                Poll::Ready(Ok(resp.map(|body| ResponseBody::recorded(body, rec))))
            }
            Ok(Err(e)) => {
                // The inner service failed without a response: the server will answer 500.
                rec.status = 500;
                rec.error = Some(Arc::from(
                    "the service returned an error instead of a response",
                ));
                Recorder(Some(rec)).finish();
                Poll::Ready(Err(e))
            }
            Err(p) => {
                rec.status = 500;
                rec.error = Some(panic_message(&*p));
                this.state.set(State::Ready { resp: None });
                Poll::Ready(Ok(internal_error(rec)))
            }
        }
    }
}
