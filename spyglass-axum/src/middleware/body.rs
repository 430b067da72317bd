use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use spyglass_dashboard::DashboardBody;

use super::record::{grpc_outcome, panic_message, BytesIn, Record, Recorder};

pin_project! {
    /// The response body of [`Spyglass`](super::Spyglass): the inner body, counting bytes as frames
    /// pass and recording the request when the last frame is sent (or the body is dropped); or a
    /// dashboard answer; or the 500 that replaced a panic.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
        rec: Recorder<BytesIn>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        // Boxed: dashboard answers are rare, and the app's responses stay small to move.
        Dashboard { body: Box<DashboardBody> },
        Full { data: Option<Bytes> },
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
    pub(crate) fn plain(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
            rec: Recorder(None),
        }
    }

    pub(crate) fn recorded(body: B, rec: Record) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
            rec: Recorder(Some(rec)),
        }
    }

    pub(crate) fn recorded_full(data: Bytes, rec: Record) -> Self {
        ResponseBody {
            kind: Kind::Full { data: Some(data) },
            rec: Recorder(Some(rec)),
        }
    }

    pub(crate) fn dashboard(body: DashboardBody) -> Self {
        ResponseBody {
            kind: Kind::Dashboard {
                body: Box::new(body),
            },
            rec: Recorder(None),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let rec = this.rec;
        match this.kind.project() {
            KindProj::Inner { mut body } => {
                // In the request's context: a streamed body's work (a query per chunk, an
                // `#[instrument]`ed function) nests under the request, as the handler's does.
                let _in_ctx = rec.0.as_ref().map(|r| r.ctx.enter());
                match panic::catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_frame(cx))) {
                    Err(p) => {
                        // A body stream that panics mid-way: the head is sent already, so the panic is
                        // recorded as the request's error and goes on unwinding (hyper drops the
                        // connection; the server keeps serving).
                        if let Some(r) = rec.0.as_mut() {
                            r.error = Some(panic_message(&*p));
                        }
                        rec.finish();
                        panic::resume_unwind(p)
                    }
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(Some(Ok(frame)))) => {
                        if let Some(r) = rec.0.as_mut() {
                            if let Some(d) = frame.data_ref() {
                                r.bytes_out += d.len() as u64;
                            } else if let Some(t) = frame.trailers_ref() {
                                grpc_outcome(t, r);
                            }
                        }
                        if body.is_end_stream() {
                            rec.finish();
                        }
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Ok(Poll::Ready(Some(Err(e)))) => {
                        if let Some(r) = rec.0.as_mut() {
                            r.error = Some(Arc::from("the response body failed while streaming"));
                        }
                        rec.finish();
                        Poll::Ready(Some(Err(e)))
                    }
                    Ok(Poll::Ready(None)) => {
                        rec.finish();
                        Poll::Ready(None)
                    }
                }
            }
            KindProj::Dashboard { body } => match Pin::new(&mut **body).poll_frame(cx) {
                Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            KindProj::Full { data } => {
                let frame = data.take();
                if let (Some(d), Some(r)) = (&frame, rec.0.as_mut()) {
                    r.bytes_out += d.len() as u64;
                }
                rec.finish();
                Poll::Ready(frame.map(|d| Ok(Frame::data(d))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Dashboard { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Dashboard { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
