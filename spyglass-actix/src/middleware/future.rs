use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, CONTENT_TYPE};
use actix_web::http::uri::PathAndQuery;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::header::traceparent_value;
use super::hooks::OnResponse;
use super::record::{panic_message, route_name, Record, Recorder};
use super::service::{req_path, Shared, UNMATCHED};

/// The `traceparent` header name, static: looking it up by `&str` would allocate.
pub(crate) const TRACEPARENT: HeaderName =
    HeaderName::from_static(spyglass_core::context::TRACEPARENT);

type Output<B> = Result<ServiceResponse<ResponseBody<B>>, actix_web::Error>;

pin_project! {
    /// The response future of [`SpyglassMiddleware`](super::SpyglassMiddleware): polls the inner
    /// future inside the request's trace context, catches a panic into a 500, reads the route
    /// template once routing is done (dropping the record if that route is excluded), and hands the
    /// record to the body. An upgrade (`101 Switching Protocols`) is recorded at its response head.
    /// Dropped before its response is ready (the client went away, or an outer timeout gave up), it
    /// records the request with status [`CANCELLED_STATUS`](spyglass_dashboard::CANCELLED_STATUS).
    pub struct ResponseFuture<F, B, OnReq, OnResp> {
        #[pin]
        state: State<F, B>,
        rec: Option<Record>,
        path: Option<PathAndQuery>,
        shared: Option<Rc<Shared<OnReq, OnResp>>>,
    }

    impl<F, B, OnReq, OnResp> PinnedDrop for ResponseFuture<F, B, OnReq, OnResp> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let (Some(mut rec), Some(shared)) = (this.rec.take(), this.shared.as_ref()) {
                if shared.route_from_path(&mut rec, req_path(this.path.as_ref())) {
                    rec.emit_cancelled();
                }
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // Polled in the record's trace context.
        Recording { #[pin] fut: F },
        Passthrough { #[pin] fut: F },
        // Boxed: a response made without calling the app (a dashboard answer, a panic's 500) is
        // rare, and inline it would make every request's future (which actix moves about) as
        // large as a whole response.
        Ready { out: Option<Box<Output<B>>> },
    }
}

impl<F, B, OnReq, OnResp> std::fmt::Debug for ResponseFuture<F, B, OnReq, OnResp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("record", &self.rec)
            .finish_non_exhaustive()
    }
}

/// Whether `method` (a [`method_name`](spyglass_core::name::method_name)) is `HEAD`: the server
/// sends no body for it (actix-http polls the body and drops its chunks), so none is counted.
#[inline]
pub(crate) fn is_head(method: &'static str) -> bool {
    method == "HEAD"
}

/// The error a panic becomes: actix answers it with a 500 carrying the request's `traceparent`.
/// The request is recorded now under the route its raw `path` matches, with the panic message as
/// its error (unless that route is excluded: then the 500 goes out unrecorded, as excluded
/// requests do, without a `traceparent`).
#[cold]
pub(crate) fn panicked<OnReq, OnResp>(
    mut rec: Record,
    msg: Arc<str>,
    path: &str,
    shared: &Shared<OnReq, OnResp>,
) -> actix_web::Error {
    if shared.route_from_path(&mut rec, path) {
        internal_error(Some(rec), msg)
    } else {
        internal_error(None, msg)
    }
}

/// The 500 that answers a panic, as an error (actix turns it into the response): `Internal Server
/// Error`, with `rec`'s `traceparent`. `rec`, its route named, is recorded now with status 500,
/// the panic message `msg` as its error and the body's bytes out; `None` for an excluded request.
#[cold]
fn internal_error(rec: Option<Record>, msg: Arc<str>) -> actix_web::Error {
    const BODY: &str = "Internal Server Error";
    let mut resp = HttpResponse::InternalServerError()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(BODY);
    if let Some(mut rec) = rec {
        resp.headers_mut()
            .insert(TRACEPARENT, traceparent_value(&rec.ctx));
        rec.status = 500;
        rec.bytes_out = if is_head(rec.method) {
            0
        } else {
            BODY.len() as u64
        };
        rec.error = Some(msg.clone());
        Recorder(Some(rec)).finish();
    }
    actix_web::error::InternalError::from_response(HandlerPanicked(msg), resp).into()
}

/// An inner middleware's error, which passes on unchanged (an outer middleware may downcast it
/// with `as_error`; actix makes the response of it). The request is recorded now, under the route
/// its raw `path` matches, with the error's status (its `ResponseError::status_code`) and, for a
/// 5xx, its text; the response actix builds later carries no `traceparent` and its bytes are not
/// counted. Nothing is recorded when that route is excluded.
#[cold]
fn inner_error<OnReq, OnResp>(
    mut rec: Record,
    e: &actix_web::Error,
    path: &str,
    shared: &Shared<OnReq, OnResp>,
) {
    if !shared.route_from_path(&mut rec, path) {
        return;
    }
    // `status_code`, not `error_response`: the latter may hand its response over only once (an
    // `InternalError::from_response` does), and actix calls it to answer.
    let status = e.as_response_error().status_code();
    rec.status = status.as_u16();
    if status.is_server_error() {
        rec.error = Some(Arc::from(e.to_string()));
    }
    Recorder(Some(rec)).finish();
}

/// The error text of a 5xx response that actix built from a handler's or an extractor's `Err`
/// (it keeps the error on the response), when nothing set one before.
#[cold]
fn server_error_text<B>(resp: &ServiceResponse<B>, rec: &mut Record) {
    if rec.error.is_none() {
        if let Some(e) = resp.response().error() {
            rec.error = Some(Arc::from(e.to_string()));
        }
    }
}

/// A handler panicked (the message is the panic's).
#[derive(Debug)]
struct HandlerPanicked(Arc<str>);

impl std::fmt::Display for HandlerPanicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "handler panicked: {}", self.0)
    }
}

impl<F, B, OnReq, OnResp> ResponseFuture<F, B, OnReq, OnResp> {
    pub(crate) fn recording(
        fut: F,
        rec: Record,
        path: Option<PathAndQuery>,
        shared: Rc<Shared<OnReq, OnResp>>,
    ) -> Self {
        ResponseFuture {
            state: State::Recording { fut },
            rec: Some(rec),
            path,
            shared: Some(shared),
        }
    }

    pub(crate) fn passthrough(fut: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { fut },
            rec: None,
            path: None,
            shared: None,
        }
    }

    pub(crate) fn ready(out: Output<B>) -> Self {
        ResponseFuture {
            state: State::Ready {
                out: Some(Box::new(out)),
            },
            rec: None,
            path: None,
            shared: None,
        }
    }
}

impl<F, B, OnReq, OnResp> Future for ResponseFuture<F, B, OnReq, OnResp>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    OnResp: OnResponse<B>,
{
    type Output = Output<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = match this.state.as_mut().project() {
            StateProj::Passthrough { fut } => {
                let res = ready!(fut.poll(cx));
                return Poll::Ready(res.map(|r| r.map_body(|_, b| ResponseBody::plain(b))));
            }
            StateProj::Ready { out } => {
                return Poll::Ready(*out.take().expect("ResponseFuture polled after completion"));
            }
            StateProj::Recording { fut } => {
                let _in_ctx = this.rec.as_ref().map(|r| r.ctx.enter());
                panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
            }
        };
        if let Ok(Poll::Pending) = polled {
            return Poll::Pending;
        }
        this.state.set(State::Ready { out: None });
        let mut rec = this
            .rec
            .take()
            .expect("ResponseFuture polled after completion");
        let shared = this
            .shared
            .take()
            .expect("ResponseFuture polled after completion");
        let path = this.path.take();
        let path = req_path(path.as_ref());
        match polled {
            Ok(Poll::Pending) => unreachable!("handled above"),
            Ok(Poll::Ready(Ok(mut resp))) => {
                // After routing: actix names the resource it routed to (guards and rewritten paths
                // included), no re-matching.
                let pattern = resp.request().match_pattern();
                let route = pattern.as_deref().unwrap_or(crate::UNMATCHED);
                if shared.is_excluded(rec.instance.get(), route) {
                    // Routed to an excluded route: passed on untouched, as excluded requests are.
                    return Poll::Ready(Ok(resp.map_body(|_, b| ResponseBody::plain(b))));
                }
                rec.route = pattern.map_or(UNMATCHED, |p| route_name(&p));
                let status = resp.status();
                rec.status = status.as_u16();
                if status.is_server_error() {
                    server_error_text(&resp, &mut rec);
                }
                if OnResp::ENABLED {
                    let hook = &shared.cfg.on_response;
                    let hooked = panic::catch_unwind(AssertUnwindSafe(|| {
                        hook.on_response(&resp, rec.start.elapsed(), &rec.ctx, &mut rec.labels)
                    }));
                    if let Err(p) = hooked {
                        // As a panicking handler: the response is dropped (its head was not
                        // sent) and the same 500 answers, under the route known already.
                        drop(resp);
                        return Poll::Ready(Err(internal_error(Some(rec), panic_message(&*p))));
                    }
                }
                resp.headers_mut()
                    .insert(TRACEPARENT, traceparent_value(&rec.ctx));
                if status == StatusCode::SWITCHING_PROTOCOLS {
                    return Poll::Ready(Ok(upgraded(resp, rec)));
                }
                Poll::Ready(Ok(resp.map_body(|_, b| ResponseBody::recorded(b, rec))))
            }
            Ok(Poll::Ready(Err(e))) => {
                // A middleware inside failed without a response: its error passes on unchanged,
                // for outer middlewares to see as it is, and actix answers with its response.
                inner_error(rec, &e, path, &shared);
                Poll::Ready(Err(e))
            }
            Err(p) => Poll::Ready(Err(panicked(rec, panic_message(&*p), path, &shared))),
        }
    }
}

/// An upgrade's response (`101 Switching Protocols`, e.g. a WebSocket handshake): its body is the
/// upgraded connection's stream, open for the whole session, so the request is recorded now, at
/// the handshake (as hyper's upgrades are under the axum layer), and the body passes unwrapped.
#[cold]
fn upgraded<B>(resp: ServiceResponse<B>, rec: Record) -> ServiceResponse<ResponseBody<B>> {
    Recorder(Some(rec)).finish();
    resp.map_body(|_, b| ResponseBody::plain(b))
}
