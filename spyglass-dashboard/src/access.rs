//! Who may open the dashboard: loopback peers, or anyone presenting the token.

use http::header::{HeaderValue, AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use http::StatusCode;
use spyglass_core::config::DashboardSettings;
use subtle::ConstantTimeEq;

use crate::query::Query;
use crate::{DashboardRequest, DashboardResponse, PREFIX};

/// The cookie that carries the token after a `?token=` visit.
pub(crate) const COOKIE_NAME: &str = "spyglass_token";

pub(crate) enum Decision {
    Allow,
    Deny(DashboardResponse),
    Redirect(DashboardResponse),
}

fn token_eq(given: &[u8], want: &[u8]) -> bool {
    // `ct_eq` on slices of different lengths returns false at once; the length is not secret.
    given.ct_eq(want).into()
}

fn bearer<'a>(req: &DashboardRequest<'a>) -> Option<&'a [u8]> {
    let v = req.headers.get(AUTHORIZATION)?.as_bytes();
    if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
        Some(v[7..].trim_ascii())
    } else {
        None
    }
}

/// The `spyglass_token` cookie values, decoded (the cookie is written form-urlencoded).
fn cookie<'a>(req: &'a DashboardRequest<'_>) -> impl Iterator<Item = Vec<u8>> + 'a {
    req.headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|kv| {
            let kv = kv.trim_ascii();
            let (k, v) = kv.split_at(kv.iter().position(|b| *b == b'=')?);
            (k == COOKIE_NAME.as_bytes()).then(|| {
                let raw = [b"v=".as_slice(), &v[1..]].concat();
                form_urlencoded::parse(&raw)
                    .next()
                    .map(|(_, v)| v.into_owned().into_bytes())
                    .unwrap_or_default()
            })
        })
}

fn forbidden(why: &str) -> Decision {
    Decision::Deny(DashboardResponse::text(StatusCode::FORBIDDEN, why))
}

pub(crate) fn check(settings: &DashboardSettings, req: &DashboardRequest<'_>) -> Decision {
    if req
        .peer
        .is_some_and(|p| p.ip().is_loopback() || is_mapped_loopback(p.ip()))
    {
        return Decision::Allow;
    }
    let Some(token) = settings.token.as_deref() else {
        return forbidden(if req.peer.is_none() {
            "403 Forbidden: the Spyglass dashboard is open to loopback peers only, and this server does \
             not tell the middleware the peer's address. With axum, serve with \
             `app.into_make_service_with_connect_info::<std::net::SocketAddr>()`; or set \
             SPYGLASS_DASHBOARD_TOKEN and present it."
        } else {
            "403 Forbidden: the Spyglass dashboard is open to loopback peers only; set \
             SPYGLASS_DASHBOARD_TOKEN on the server and present it (Authorization: Bearer <token> or \
             ?token=<token>) to open it from elsewhere."
        });
    };
    let want = token.as_bytes();
    if bearer(req).is_some_and(|t| token_eq(t, want)) || cookie(req).any(|t| token_eq(&t, want)) {
        return Decision::Allow;
    }
    let q = Query::parse(req.query).unwrap_or_default();
    if let Some(t) = q.get("token") {
        if token_eq(t.as_bytes(), want) {
            // Move the token from the URL into an HttpOnly cookie.
            let rest = q.without("token");
            let target = if rest.is_empty() {
                format!("{PREFIX}{}", req.path)
            } else {
                format!("{PREFIX}{}?{rest}", req.path)
            };
            let target = if target == PREFIX {
                format!("{PREFIX}/")
            } else {
                target
            };
            let mut resp = DashboardResponse::text(StatusCode::SEE_OTHER, "token accepted");
            // `Lax`, not `Strict`: a `?token=` link followed from another site (a chat, a wiki) is
            // redirected here, and a browser holds back `Strict` cookies for the whole navigation
            // it started, so the redirected page would be refused. The dashboard only answers
            // GET and HEAD, so `Lax` opens nothing a cross-site form could change.
            let cookie = format!(
                "{COOKIE_NAME}={}; Path={PREFIX}; HttpOnly; SameSite=Lax",
                form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
            );
            match (
                HeaderValue::from_str(&target),
                HeaderValue::from_str(&cookie),
            ) {
                (Ok(l), Ok(c)) => {
                    resp.headers.insert(LOCATION, l);
                    resp.headers.insert(SET_COOKIE, c);
                    return Decision::Redirect(resp);
                }
                _ => return forbidden("403 Forbidden: the token cannot be carried in a cookie"),
            }
        }
    }
    forbidden("403 Forbidden: a valid SPYGLASS_DASHBOARD_TOKEN is required to open the Spyglass dashboard from a non-loopback address")
}

fn is_mapped_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        std::net::IpAddr::V4(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, Method};
    use std::net::SocketAddr;

    fn settings(token: Option<&str>) -> DashboardSettings {
        let mut b = spyglass_core::Spyglass::builder();
        if let Some(t) = token {
            b = b.dashboard_token(t);
        }
        b.build().unwrap().dashboard().clone()
    }

    fn req<'a>(headers: &'a HeaderMap, peer: &str, query: Option<&'a str>) -> DashboardRequest<'a> {
        DashboardRequest {
            method: &Method::GET,
            path: "/api/stats",
            query,
            headers,
            peer: Some(peer.parse::<SocketAddr>().unwrap()),
        }
    }

    #[test]
    fn loopback_is_free_others_need_the_token() {
        let h = HeaderMap::new();
        let s = settings(Some("s3cret"));
        assert!(matches!(
            check(&s, &req(&h, "127.0.0.1:1", None)),
            Decision::Allow
        ));
        assert!(matches!(
            check(&s, &req(&h, "[::1]:1", None)),
            Decision::Allow
        ));
        assert!(matches!(
            check(&s, &req(&h, "[::ffff:127.0.0.1]:1", None)),
            Decision::Allow
        ));
        assert!(matches!(
            check(&s, &req(&h, "10.0.0.1:1", None)),
            Decision::Deny(_)
        ));
        assert!(matches!(
            check(&settings(None), &req(&h, "10.0.0.1:1", None)),
            Decision::Deny(_)
        ));

        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(matches!(
            check(&s, &req(&h, "10.0.0.1:1", None)),
            Decision::Allow
        ));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s3cre"));
        assert!(matches!(
            check(&s, &req(&h, "10.0.0.1:1", None)),
            Decision::Deny(_)
        ));

        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=b; spyglass_token=s3cret"),
        );
        assert!(matches!(
            check(&s, &req(&h, "10.0.0.1:1", None)),
            Decision::Allow
        ));

        let h = HeaderMap::new();
        match check(&s, &req(&h, "10.0.0.1:1", Some("window=60&token=s3cret"))) {
            Decision::Redirect(r) => {
                assert_eq!(r.status, StatusCode::SEE_OTHER);
                assert_eq!(r.headers[LOCATION], "/_spyglass/api/stats?window=60");
                let c = r.headers[SET_COOKIE].to_str().unwrap();
                assert!(
                    c.starts_with("spyglass_token=s3cret;")
                        && c.contains("HttpOnly")
                        && c.contains("SameSite=Lax"),
                    "{c}"
                );
            }
            _ => panic!("expected a redirect"),
        }
        assert!(matches!(
            check(&s, &req(&h, "10.0.0.1:1", Some("token=nope"))),
            Decision::Deny(_)
        ));
    }
}
