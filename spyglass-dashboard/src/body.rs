//! The response body: complete bytes, or the live stream.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Frame, SizeHint};

pub use crate::sse::DashboardStream;

/// A dashboard response body: complete bytes, or the Server-Sent-Events stream of `/api/stream`.
///
/// Implements [`http_body::Body`] and [`Stream`] of `Result<Bytes, Infallible>` (what actix-web's
/// `BodyStream` takes), so every framework can send it without copying logic.
#[derive(Debug)]
pub enum DashboardBody {
    /// Complete bytes (taken once).
    Full(Option<Bytes>),
    /// The live stream: it runs until the client closes it, or until the instance ends its streams
    /// ([`Spyglass::end_streams`], at a graceful shutdown) or shuts down.
    ///
    /// [`Spyglass::end_streams`]: spyglass_core::Spyglass::end_streams
    Stream(DashboardStream),
}

impl DashboardBody {
    /// A complete body.
    pub fn full(b: Bytes) -> Self {
        DashboardBody::Full(Some(b))
    }

    /// An empty body.
    pub fn empty() -> Self {
        DashboardBody::Full(None)
    }

    /// The bytes of a complete body; `None` for the stream.
    pub fn into_bytes(self) -> Option<Bytes> {
        match self {
            DashboardBody::Full(b) => Some(b.unwrap_or_default()),
            DashboardBody::Stream(_) => None,
        }
    }

    /// Whether this is the live stream.
    pub fn is_stream(&self) -> bool {
        matches!(self, DashboardBody::Stream(_))
    }
}

impl http_body::Body for DashboardBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            DashboardBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            DashboardBody::Stream(s) => Pin::new(s)
                .poll_next(cx)
                .map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, DashboardBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            DashboardBody::Full(b) => {
                SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64))
            }
            DashboardBody::Stream(_) => SizeHint::default(),
        }
    }
}

impl Stream for DashboardBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            DashboardBody::Full(b) => Poll::Ready(b.take().map(Ok)),
            DashboardBody::Stream(s) => Pin::new(s).poll_next(cx).map(|o| o.map(Ok)),
        }
    }
}
