//! Request bytes: the declared `Content-Length` when there is one (actix's decoder holds the body to
//! exactly that length), none for a request that has no body (HTTP/1 without `Content-Length` or
//! `Transfer-Encoding`, HTTP/2 whose stream ended with its headers), else the payload counted as it
//! streams to the handler (chunked uploads, HTTP/2 bodies of undeclared length). Never buffered.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

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
    // actix-http gives an HTTP/1 request without a body (neither `Content-Length` nor
    // `Transfer-Encoding`, or a length of 0) no payload at all: no header to look up.
    if let (_, Payload::None) = req.parts() {
        return BytesIn::Known(0);
    }
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
    let mut payload = req.take_payload();
    let mut first = None;
    match payload {
        Payload::None => return BytesIn::Known(0),
        // HTTP/2 marks a request without a body by ending its stream with the headers (a GET
        // does), a flag actix-http keeps to its stream: polled once here, without a waker to
        // call, such a stream is already at its end. One with a body is pending or yields its
        // first chunk, kept for the handler. (A later poll registers the handler's own waker.)
        _ if req.version() >= Version::HTTP_2 => {
            let mut cx = Context::from_waker(Waker::noop());
            match Pin::new(&mut payload).poll_next(&mut cx) {
                Poll::Ready(None) => {
                    req.set_payload(payload);
                    return BytesIn::Known(0);
                }
                Poll::Ready(Some(item)) => first = Some(item),
                Poll::Pending => {}
            }
        }
        _ => {}
    }
    let counter = Rc::new(Cell::new(0));
    if let Some(Ok(chunk)) = &first {
        counter.set(chunk.len() as u64);
    }
    req.set_payload(Payload::Stream {
        payload: Box::pin(Counting {
            first,
            inner: payload,
            counter: counter.clone(),
        }),
    });
    BytesIn::Counted(counter)
}

struct Counting {
    /// A chunk (or error) read ahead by [`bytes_in`], already counted.
    first: Option<Result<Bytes, PayloadError>>,
    inner: Payload,
    counter: Rc<Cell<u64>>,
}

impl Stream for Counting {
    type Item = Result<Bytes, PayloadError>;

    #[inline]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        let item = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &item {
            self.counter.set(self.counter.get() + chunk.len() as u64);
        }
        item
    }
}
