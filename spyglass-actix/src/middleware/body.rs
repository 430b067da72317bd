use std::error::Error as StdError;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use bytes::Bytes;
use pin_project_lite::pin_project;

use super::future::is_head;
use super::payload::BytesIn;
use super::record::{panic_message, Record, Recorder};

pin_project! {
    /// The response body of [`SpyglassMiddleware`](super::SpyglassMiddleware): the application's
    /// body, counting bytes as chunks pass and recording the request when the last chunk is sent (or
    /// the body is dropped, e.g. when the client goes away or the body is empty); or a dashboard
    /// answer. The body of a `HEAD` response is not sent (actix-http polls it and drops the chunks),
    /// so none of it is counted.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
        rec: Recorder<BytesIn>,
        // Whether chunks count as bytes out (not for `HEAD`).
        count_out: bool,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Dashboard { body: BoxBody },
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("record", &self.rec)
            .finish()
    }
}

impl<B> ResponseBody<B> {
    #[inline]
    pub(crate) fn plain(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
            rec: Recorder(None),
            count_out: false,
        }
    }

    #[inline]
    pub(crate) fn recorded(body: B, rec: Record) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
            count_out: !is_head(rec.method),
            rec: Recorder(Some(rec)),
        }
    }

    pub(crate) fn dashboard(body: BoxBody) -> Self {
        ResponseBody {
            kind: Kind::Dashboard { body },
            rec: Recorder(None),
            count_out: false,
        }
    }
}

impl<B> MessageBody for ResponseBody<B>
where
    B: MessageBody,
{
    type Error = Box<dyn StdError>;

    #[inline]
    fn size(&self) -> BodySize {
        match &self.kind {
            Kind::Inner { body } => body.size(),
            Kind::Dashboard { body } => body.size(),
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let rec = this.rec;
        match this.kind.project() {
            KindProj::Inner { body } => match panic::catch_unwind(AssertUnwindSafe(|| {
                // In the request's context: a streamed body's work (a query per chunk, an
                // `#[instrument]`ed function) nests under the request, as the handler's does.
                let _in_ctx = rec.0.as_ref().map(|r| r.ctx.enter());
                body.poll_next(cx)
            })) {
                Err(p) => {
                    // A body stream that panics mid-way: the head is sent already, so the response is
                    // cut short with an error (actix closes the connection) and the panic recorded.
                    let msg = panic_message(&*p);
                    if let Some(r) = rec.0.as_mut() {
                        r.error = Some(msg.clone());
                    }
                    rec.finish();
                    Poll::Ready(Some(Err(
                        format!("the response body panicked: {msg}").into()
                    )))
                }
                Ok(polled) => match polled {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) => {
                        if let (true, Some(r)) = (*this.count_out, rec.0.as_mut()) {
                            r.bytes_out += chunk.len() as u64;
                        }
                        Poll::Ready(Some(Ok(chunk)))
                    }
                    Poll::Ready(Some(Err(e))) => {
                        if let Some(r) = rec.0.as_mut() {
                            r.error = Some(Arc::from("the response body failed while streaming"));
                        }
                        rec.finish();
                        Poll::Ready(Some(Err(e.into())))
                    }
                    Poll::Ready(None) => {
                        rec.finish();
                        Poll::Ready(None)
                    }
                },
            },
            KindProj::Dashboard { body } => Pin::new(body).poll_next(cx),
        }
    }
}
