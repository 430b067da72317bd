//! The request payload, counted as it streams to the handler (never buffered).

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::HttpMessage;
use bytes::Bytes;
use futures_core::Stream;

/// Wraps the request's payload in a counter and returns the counter; `None` (and nothing wrapped, no
/// allocation) for a request without a body.
pub(crate) fn count(req: &mut ServiceRequest) -> Option<Rc<Cell<u64>>> {
    let payload = req.take_payload();
    if let Payload::None = payload {
        return None;
    }
    let counter = Rc::new(Cell::new(0));
    req.set_payload(Payload::Stream {
        payload: Box::pin(Counting {
            inner: payload,
            counter: counter.clone(),
        }),
    });
    Some(counter)
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
