//! The response's `traceparent` [`HeaderValue`], built without `http`'s byte-by-byte check.
//!
//! This is the workspace's one audited `unsafe` block (the root `Cargo.toml` denies `unsafe_code`
//! everywhere else). `HeaderValue::from_maybe_shared` checks a value one byte at a time with an
//! early exit, about eight instructions a byte: 455 of the roughly 4 900 instructions the
//! middleware adds to a request (callgrind, `benches/http-load/profile.sh`, `shop-sqlx`). Here the
//! 55 bytes are checked in one pass without an early exit, which the compiler is free to
//! vectorize, and then handed to `from_maybe_shared_unchecked`, which wraps the
//! [`Bytes`](bytes::Bytes) as they are.
#![allow(unsafe_code)]

use actix_web::http::header::HeaderValue;
use spyglass_core::TraceContext;

/// `ctx`'s `traceparent` header value, without a heap allocation in the steady state.
pub(crate) fn traceparent_value(ctx: &TraceContext) -> HeaderValue {
    let bytes = spyglass_core::context::traceparent_bytes(ctx);
    if !is_visible_ascii(&bytes) {
        // Never taken: the value is hex digits and dashes. Kept so that the `unsafe` below rests on
        // the check above it alone.
        return HeaderValue::from_static("00-00000000000000000000000000000000-0000000000000000-00");
    }
    // SAFETY: `from_maybe_shared_unchecked` requires bytes that are valid in a header value (`http`
    // accepts 0x20..=0xFF but 0x7F, and tab). Every byte of `bytes` was just checked to be visible
    // ASCII (0x21..=0x7E), a subset of those.
    unsafe { HeaderValue::from_maybe_shared_unchecked(bytes) }
}

/// Whether every byte is visible ASCII (0x21..=0x7E). One pass over all the bytes, with no early
/// exit, so that the compiler may vectorize it.
#[inline]
fn is_visible_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(0x21) < 0x5E))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_ascii_is_exactly_0x21_to_0x7e() {
        for b in 0..=u8::MAX {
            assert_eq!(
                is_visible_ascii(&[b'a', b, b'0']),
                (0x21..=0x7E).contains(&b),
                "byte {b:#04x}"
            );
        }
        assert!(is_visible_ascii(b""));
    }

    #[test]
    fn values_are_the_traceparent_and_pass_http_own_check() {
        for sampled in [true, false] {
            for _ in 0..1000 {
                let ctx = TraceContext::new_root(sampled);
                let v = traceparent_value(&ctx);
                assert_eq!(v.as_bytes(), ctx.to_traceparent().as_bytes());
                assert!(HeaderValue::from_bytes(v.as_bytes()).is_ok());
            }
        }
    }
}
