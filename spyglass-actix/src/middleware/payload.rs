//! Request bytes: the declared `Content-Length` when there is one (actix's decoder holds the body to
//! exactly that length), else the payload counted as it streams to the handler (chunked uploads).
//! Never buffered.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::http::Version;
use actix_web::HttpMessage;
use bytes::Bytes;
use futures_core::Stream;

/// How a request's bytes in are known.
#[derive(Debug)]
pub(crate) enum BytesIn {
    /// Exactly this many (no body, or a declared length).
    Known(u64),
    /// Counted as the handler reads the payload.
    Counted(Rc<Cell<u64>>),
}

impl spyglass_dashboard::BytesIn for BytesIn {
    fn bytes_in(&self) -> u64 {
        match self {
            BytesIn::Known(n) => *n,
            BytesIn::Counted(c) => c.get(),
        }
    }
}

/// The request's bytes in; for a body of unknown length, wraps the payload in a counter (the one
/// case that allocates: actix takes payload streams boxed).
pub(crate) fn bytes_in(req: &mut ServiceRequest) -> BytesIn {
    let headers = req.headers();
    if !headers.contains_key(TRANSFER_ENCODING) {
        if let Some(n) = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return BytesIn::Known(n);
        }
        // HTTP/1: a request with neither `Content-Length` nor `Transfer-Encoding` has no body.
        if req.version() < Version::HTTP_2 {
            return BytesIn::Known(0);
        }
    }
    let payload = req.take_payload();
    if let Payload::None = payload {
        return BytesIn::Known(0);
    }
    let counter = Rc::new(Cell::new(0));
    req.set_payload(Payload::Stream {
        payload: Box::pin(Counting {
            inner: payload,
            counter: counter.clone(),
        }),
    });
    BytesIn::Counted(counter)
}

struct Counting {
    inner: Payload,
    counter: Rc<Cell<u64>>,
}

impl Stream for Counting {
    type Item = Result<Bytes, PayloadError>;

    #[inline]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &item {
            self.counter.set(self.counter.get() + chunk.len() as u64);
        }
        item
    }
}
