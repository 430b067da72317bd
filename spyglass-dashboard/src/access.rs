//! Who may open the dashboard: loopback peers, or anyone presenting the token.

use http::header::{HeaderValue, AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use http::StatusCode;
use spyglass_core::config::DashboardSettings;
use subtle::ConstantTimeEq;

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

/// The first `token` parameter of the raw query string, percent-decoded. Unlike a form's decoding,
/// `+` stays a plus sign: a base64 token carries `+` (and `/`, `=`), and a link with the token
/// pasted as is must work. A space is `%20`.
fn query_token(query: Option<&str>) -> Option<Vec<u8>> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(|v| percent_encoding::percent_decode_str(v).collect())
}

/// The raw query string without its `token` parameters, the others as they were.
fn without_token(query: &str) -> String {
    query
        .split('&')
        .filter(|kv| !kv.is_empty() && *kv != "token" && !kv.starts_with("token="))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether a proxy in front says the client used HTTPS: `X-Forwarded-Proto: https` (its first
/// value) or a `Forwarded` header's first element with `proto=https`.
fn forwarded_https(headers: &http::HeaderMap) -> bool {
    let first = |name: &str, sep: char| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(sep).next())
            .map(str::trim)
    };
    if let Some(p) = first("x-forwarded-proto", ',') {
        return p.eq_ignore_ascii_case("https");
    }
    first("forwarded", ',').is_some_and(|element| {
        element.split(';').any(|pair| {
            pair.trim().split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("proto")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
            })
        })
    })
}

/// The redirect that moves a valid `?token=` from the URL into an `HttpOnly` cookie.
fn token_redirect(req: &DashboardRequest<'_>, token: &[u8]) -> Decision {
    let rest = without_token(req.query.unwrap_or(""));
    let path = if req.path.is_empty() { "/" } else { req.path };
    let target = if rest.is_empty() {
        format!("{PREFIX}{path}")
    } else {
        format!("{PREFIX}{path}?{rest}")
    };
    let mut resp = DashboardResponse::text(StatusCode::SEE_OTHER, "token accepted");
    // `Lax`, not `Strict`: a `?token=` link followed from another site (a chat, a wiki) is
    // redirected here, and a browser holds back `Strict` cookies for the whole navigation it
    // started, so the redirected page would be refused. The dashboard only answers GET and HEAD,
    // so `Lax` opens nothing a cross-site form could change.
    // `Secure` when a proxy says the browser spoke HTTPS to it: the cookie then never travels in
    // clear. (Without such a header the scheme is unknown here, and a `Secure` cookie would not
    // come back over plain HTTP.)
    let secure = if forwarded_https(req.headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE_NAME}={}; Path={PREFIX}; HttpOnly; SameSite=Lax{secure}",
        form_urlencoded::byte_serialize(token).collect::<String>()
    );
    match (
        HeaderValue::from_str(&target),
        HeaderValue::from_str(&cookie),
    ) {
        (Ok(l), Ok(c)) => {
            resp.headers.insert(LOCATION, l);
            resp.headers.insert(SET_COOKIE, c);
            Decision::Redirect(resp)
        }
        _ => forbidden("403 Forbidden: the token cannot be carried in a cookie"),
    }
}

fn forbidden(why: &str) -> Decision {
    Decision::Deny(DashboardResponse::text(StatusCode::FORBIDDEN, why))
}

/// Why a loopback peer is not let in on its address alone.
enum NotLocal {
    /// The request names a host that is neither `localhost` nor an IP address: a page of another
    /// site whose name was rebound to 127.0.0.1 (DNS rebinding) would look like this.
    Host,
    /// The request came through a proxy on this host, which forwards other machines' requests.
    Proxied(&'static str),
}

/// Headers a proxy adds when it forwards a request (the standard one, the de-facto ones, and those
/// of the common CDNs).
const FORWARDING: [&str; 8] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "via",
    "cf-connecting-ip",
    "true-client-ip",
];

/// Whether a request from a loopback peer may be taken for the local user's: it names the server
/// (in its `Host` header, or for HTTP/2 in its URI's authority) as `localhost` (or a `*.localhost`
/// name) or by an IP address, or names no host at all (HTTP/1.0); and it carries no proxy's
/// forwarding header.
fn local_request(req: &DashboardRequest<'_>) -> Result<(), NotLocal> {
    if let Some(h) = FORWARDING.iter().find(|h| req.headers.contains_key(**h)) {
        return Err(NotLocal::Proxied(h));
    }
    let host = match req.headers.get(http::header::HOST) {
        Some(v) => Some(v.as_bytes()),
        None => req.authority.map(str::as_bytes),
    };
    match host {
        None => Ok(()),
        Some(h) if local_host(h) => Ok(()),
        Some(_) => Err(NotLocal::Host),
    }
}

/// `localhost`, a `*.localhost` name (RFC 6761: browsers resolve them to loopback themselves) or
/// an IP literal, with or without a port.
fn local_host(host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        return rest.split_once(']').is_some_and(|(ip, port)| {
            ip.parse::<std::net::Ipv6Addr>().is_ok()
                && (port.is_empty() || port.strip_prefix(':').is_some_and(is_port))
        });
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// Why a request that is not local is refused when no token is set.
fn no_token_set(not_local: Option<&NotLocal>, peer: Option<std::net::SocketAddr>) -> String {
    match (not_local, peer) {
        (Some(NotLocal::Host), _) => {
            "403 Forbidden: this loopback request names the server by a host name other than \
             localhost, as a page of another site rebound to 127.0.0.1 would (DNS rebinding). Open \
             the dashboard as http://localhost:PORT/_spyglass or http://127.0.0.1:PORT/_spyglass, \
             or set SPYGLASS_DASHBOARD_TOKEN and present it."
                .to_string()
        }
        (Some(NotLocal::Proxied(h)), _) => format!(
            "403 Forbidden: this request came through a proxy (it carries {h}), so its sender is \
             not known to be local; set SPYGLASS_DASHBOARD_TOKEN on the server and present it \
             (Authorization: Bearer <token> or ?token=<token>)."
        ),
        (None, None) => {
            "403 Forbidden: the Spyglass dashboard is open to loopback peers only, and this server \
             does not tell the middleware the peer's address. With axum, serve with \
             `app.into_make_service_with_connect_info::<std::net::SocketAddr>()` (with actix-web, \
             there is none on a Unix socket listener, or in a test request made without \
             `peer_addr`); or set SPYGLASS_DASHBOARD_TOKEN and present it."
                .to_string()
        }
        (None, Some(_)) => {
            "403 Forbidden: the Spyglass dashboard is open to loopback peers only; set \
             SPYGLASS_DASHBOARD_TOKEN on the server and present it (Authorization: Bearer <token> \
             or ?token=<token>) to open it from elsewhere."
                .to_string()
        }
    }
}

/// Whether `req` may open the dashboard (see the [crate docs](crate)).
///
/// A valid `?token=` is moved into the cookie by a redirect to the same URL without it, whoever the
/// peer: a loopback visitor's link is cleaned up too, so the token leaves the address bar, the
/// history and the `Referer` of what the page loads. A loopback visitor let in on its address alone
/// whose `?token=` is wrong is let in as it is, without a redirect: the address opens the
/// dashboard, and a wrong token is nothing to keep in a cookie.
pub(crate) fn check(settings: &DashboardSettings, req: &DashboardRequest<'_>) -> Decision {
    let loopback = req
        .peer
        .is_some_and(|p| p.ip().is_loopback() || is_mapped_loopback(p.ip()));
    let not_local = if loopback {
        local_request(req).err()
    } else {
        None
    };
    let local = loopback && not_local.is_none();
    let Some(token) = settings.token.as_deref() else {
        return if local {
            Decision::Allow
        } else {
            forbidden(&no_token_set(not_local.as_ref(), req.peer))
        };
    };
    let want = token.as_bytes();
    if let Some(t) = query_token(req.query) {
        if token_eq(&t, want) {
            return token_redirect(req, &t);
        }
    }
    if local
        || bearer(req).is_some_and(|t| token_eq(t, want))
        || cookie(req).any(|t| token_eq(&t, want))
    {
        return Decision::Allow;
    }
    forbidden(match not_local {
        None => {
            "403 Forbidden: a valid SPYGLASS_DASHBOARD_TOKEN is required to open the Spyglass \
                 dashboard from a non-loopback address"
        }
        Some(NotLocal::Host) => {
            "403 Forbidden: a valid SPYGLASS_DASHBOARD_TOKEN is required to open \
                 the Spyglass dashboard under a host name other than localhost"
        }
        Some(NotLocal::Proxied(_)) => {
            "403 Forbidden: a valid SPYGLASS_DASHBOARD_TOKEN is required to \
                 open the Spyglass dashboard through a proxy"
        }
    })
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
            authority: None,
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

    /// The redirect's target and cookie, or a panic naming what came instead.
    fn redirect(d: Decision) -> (String, String) {
        match d {
            Decision::Redirect(r) => {
                assert_eq!(r.status, StatusCode::SEE_OTHER);
                (
                    r.headers[LOCATION].to_str().unwrap().to_string(),
                    r.headers[SET_COOKIE].to_str().unwrap().to_string(),
                )
            }
            Decision::Allow => panic!("allowed, not redirected"),
            Decision::Deny(r) => panic!(
                "denied, not redirected: {}",
                String::from_utf8_lossy(&r.body.into_bytes().unwrap())
            ),
        }
    }

    #[test]
    fn the_cookie_is_secure_when_a_proxy_says_the_browser_used_https() {
        let s = settings(Some("s3cret"));
        let cookie_with = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            if !name.is_empty() {
                h.insert(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            redirect(check(&s, &req(&h, "10.0.0.1:1", Some("token=s3cret")))).1
        };
        for (name, value) in [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-proto", "HTTPS, http"),
            ("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43"),
            ("forwarded", "Proto=\"https\", proto=http"),
        ] {
            let cookie = cookie_with(name, value);
            assert!(cookie.ends_with("; Secure"), "{name}: {value}: {cookie}");
        }
        for (name, value) in [
            ("", ""),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-proto", "http, https"),
            ("forwarded", "for=192.0.2.60;proto=http"),
            ("forwarded", "for=192.0.2.60"),
        ] {
            let cookie = cookie_with(name, value);
            assert!(!cookie.contains("Secure"), "{name}: {value}: {cookie}");
        }
    }

    #[test]
    fn a_token_with_plus_slash_and_equals_is_accepted_in_the_query() {
        // A base64 token: `+` in a query is a plus sign, not a space (that is HTML forms' rule).
        let s = settings(Some("a+b/c="));
        let h = HeaderMap::new();
        for query in [
            "token=a+b/c=",
            "token=a%2Bb%2Fc%3D",
            "token=a%2bb/c%3d",
            "window=60&token=a+b/c=",
        ] {
            let (to, cookie) = redirect(check(&s, &req(&h, "10.0.0.1:1", Some(query))));
            let want = if query.starts_with("window") {
                "/_spyglass/api/stats?window=60"
            } else {
                "/_spyglass/api/stats"
            };
            assert_eq!(to, want, "{query}");
            assert!(
                cookie.starts_with("spyglass_token=a%2Bb%2Fc%3D;"),
                "{cookie}"
            );
            // The cookie it sets lets the next request in.
            let value = cookie.split(';').next().unwrap().to_string();
            let mut h = HeaderMap::new();
            h.insert(COOKIE, HeaderValue::from_str(&value).unwrap());
            assert!(matches!(
                check(&s, &req(&h, "10.0.0.1:1", None)),
                Decision::Allow
            ));
        }
        for wrong in ["token=a b/c=", "token=a%20b/c=", "token=ab/c="] {
            assert!(
                matches!(
                    check(&s, &req(&h, "10.0.0.1:1", Some(wrong))),
                    Decision::Deny(_)
                ),
                "{wrong}"
            );
        }
    }

    #[test]
    fn a_loopback_visitor_s_token_leaves_the_url_too() {
        let s = settings(Some("s3cret"));
        let h = with(&[("host", "localhost:3000")]);
        for peer in ["127.0.0.1:1", "[::1]:1"] {
            let (to, cookie) = redirect(check(&s, &req(&h, peer, Some("token=s3cret&window=60"))));
            assert_eq!(to, "/_spyglass/api/stats?window=60");
            assert!(cookie.starts_with("spyglass_token=s3cret;"), "{cookie}");
        }
        // The page itself: the redirect keeps the trailing slash.
        let mut r = req(&h, "127.0.0.1:1", Some("token=s3cret"));
        r.path = "";
        assert_eq!(redirect(check(&s, &r)).0, "/_spyglass/");
        // A wrong token from a loopback peer that is let in anyway: let in, no redirect (the
        // address alone opens it; a wrong token is no secret to move into a cookie).
        assert!(matches!(
            check(&s, &req(&h, "127.0.0.1:1", Some("token=nope"))),
            Decision::Allow
        ));
        // No token configured: nothing to check it against, the loopback peer is let in.
        assert!(matches!(
            check(
                &settings(None),
                &req(&h, "127.0.0.1:1", Some("token=s3cret"))
            ),
            Decision::Allow
        ));
    }

    #[test]
    fn an_unknown_peer_is_told_the_fix_for_axum_and_for_actix() {
        let h = HeaderMap::new();
        let mut r = req(&h, "127.0.0.1:1", None);
        r.peer = None;
        let why = denial(check(&settings(None), &r));
        assert!(why.contains("into_make_service_with_connect_info"), "{why}");
        assert!(
            why.contains("actix-web") && why.contains("Unix socket"),
            "{why}"
        );
    }

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn denial(d: Decision) -> String {
        match d {
            Decision::Deny(r) => String::from_utf8(r.body.into_bytes().unwrap().to_vec()).unwrap(),
            Decision::Allow => panic!("allowed"),
            Decision::Redirect(_) => panic!("redirected"),
        }
    }

    #[test]
    fn loopback_host_names_and_ip_literals_are_local() {
        let s = settings(None);
        for host in [
            "localhost",
            "localhost:3000",
            "LOCALHOST:3000",
            "localhost.:3000",
            "app.localhost:8080",
            "127.0.0.1",
            "127.0.0.1:3000",
            "[::1]",
            "[::1]:3000",
            "192.168.1.20:3000",
        ] {
            let h = with(&[("host", host)]);
            assert!(
                matches!(check(&s, &req(&h, "127.0.0.1:1", None)), Decision::Allow),
                "{host}"
            );
        }
        // No Host header at all (HTTP/1.0, HTTP/2's authority): the peer decides.
        let h = HeaderMap::new();
        assert!(matches!(
            check(&s, &req(&h, "[::1]:1", None)),
            Decision::Allow
        ));
    }

    #[test]
    fn a_rebound_host_name_needs_the_token_even_from_loopback() {
        let s = settings(None);
        for host in [
            "evil.example:3000",
            "evil.example",
            "localhost.evil.example:3000",
            "127.0.0.1.nip.io:3000",
            "localhost:30x0",
            "[::1",
            "[::1]x",
        ] {
            let h = with(&[("host", host)]);
            let why = denial(check(&s, &req(&h, "127.0.0.1:1", None)));
            assert!(why.contains("DNS rebinding"), "{host}: {why}");
        }
        let s = settings(Some("s3cret"));
        let h = with(&[("host", "evil.example:3000")]);
        assert!(matches!(
            check(&s, &req(&h, "127.0.0.1:1", None)),
            Decision::Deny(_)
        ));
        let h = with(&[
            ("host", "dashboard.internal:3000"),
            ("authorization", "Bearer s3cret"),
        ]);
        assert!(matches!(
            check(&s, &req(&h, "127.0.0.1:1", None)),
            Decision::Allow
        ));
    }

    #[test]
    fn without_a_host_header_the_uri_authority_is_checked() {
        // HTTP/2 carries the host as `:authority`, in the URI, not as a header.
        let s = settings(None);
        let h = HeaderMap::new();
        let mut r = req(&h, "127.0.0.1:1", None);
        r.authority = Some("evil.example:3000");
        let why = denial(check(&s, &r));
        assert!(why.contains("DNS rebinding"), "{why}");
        r.authority = Some("localhost:3000");
        assert!(matches!(check(&s, &r), Decision::Allow));
        // A Host header, when there is one, is what counts.
        let h = with(&[("host", "evil.example")]);
        let mut r = req(&h, "127.0.0.1:1", None);
        r.authority = Some("localhost:3000");
        assert!(matches!(check(&s, &r), Decision::Deny(_)));
    }

    #[test]
    fn a_proxied_request_needs_the_token_even_from_loopback() {
        for header in FORWARDING {
            let h = with(&[("host", "localhost:3000"), (header, "203.0.113.9")]);
            let why = denial(check(&settings(None), &req(&h, "127.0.0.1:1", None)));
            assert!(why.contains("proxy") && why.contains(header), "{why}");
            let why = denial(check(
                &settings(Some("s3cret")),
                &req(&h, "[::ffff:127.0.0.1]:1", None),
            ));
            assert!(why.contains("through a proxy"), "{why}");
        }
        let h = with(&[
            ("host", "shop.example.com"),
            ("x-forwarded-for", "203.0.113.9"),
            ("cookie", "spyglass_token=s3cret"),
        ]);
        assert!(matches!(
            check(&settings(Some("s3cret")), &req(&h, "127.0.0.1:1", None)),
            Decision::Allow
        ));
    }
}
