//! The embedded page and its assets: nothing is fetched from elsewhere, the page works offline.
//! uPlot (MIT, see `assets/vendor/uplot/LICENSE`) draws the charts.

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use http::StatusCode;

use crate::DashboardResponse;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const UPLOT_JS: &str = include_str!("../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/vendor/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../assets/vendor/uplot/LICENSE");

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn page() -> DashboardResponse {
    let mut r = DashboardResponse::new(StatusCode::OK, "text/html; charset=utf-8", INDEX);
    r.headers
        .insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    r
}

pub(crate) fn asset(name: &str) -> DashboardResponse {
    let (ct, body) = match name {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        "uPlot.min.js" => ("text/javascript; charset=utf-8", UPLOT_JS),
        "uPlot.min.css" => ("text/css; charset=utf-8", UPLOT_CSS),
        "uPlot.LICENSE" => ("text/plain; charset=utf-8", UPLOT_LICENSE),
        _ => {
            return DashboardResponse::text(StatusCode::NOT_FOUND, format!("no such asset: {name}"))
        }
    };
    let mut r = DashboardResponse::new(StatusCode::OK, ct, body);
    r.headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}
