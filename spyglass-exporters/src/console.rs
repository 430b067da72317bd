//! Human-readable lines on stdout (or any writer): one per sampled event.
//!
//! [`ConsoleExporter::pretty`] aligns columns, prints durations in human units and colours the kind,
//! the status and slow calls; errors stand out in red with their text on a second line.
//! [`ConsoleExporter::compact`] prints one short line per event.
//!
//! Colour follows the usual conventions unless set with [`ConsoleExporter::color`]: off when
//! `NO_COLOR` is set to anything non-empty (<https://no-color.org>), off when stdout is not a
//! terminal, off for a custom [`writer`](ConsoleExporter::writer).
//!
//! Each batch is formatted into one buffer and written under one stdout lock: printing never takes
//! the lock per event, and never on a request's thread.
//!
//! # Example
//!
//! ```
//! use std::io::Write;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use spyglass_exporters::ConsoleExporter;
//!
//! #[derive(Clone, Default)]
//! struct Shared(Arc<Mutex<Vec<u8>>>);
//! impl Write for Shared {
//!     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//!
//! let out = Shared::default();
//! let sg = spyglass_core::Spyglass::builder()
//!     .exporter(ConsoleExporter::compact().writer(out.clone()))
//!     .build()
//!     .unwrap();
//! sg.emitter().emit_req("GET", "/users/{id}", 200, Duration::from_millis(15));
//! sg.shutdown();
//! let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
//! assert_eq!(text, "req GET /users/{id} 200 15.0ms\n");
//! ```

use std::fmt;
use std::io::{self, IsTerminal, Write};

use spyglass_core::event::{Event, EventKind};
use spyglass_core::export::{Batch, ExportError, Exporter, Resource};

use crate::time::Utc;

/// Prints sampled events as text lines. See the [module docs](self).
pub struct ConsoleExporter {
    style: Style,
    color: Option<bool>,
    out: Output,
    use_color: bool,
    buf: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Pretty,
    Compact,
}

enum Output {
    Stdout,
    Writer(Box<dyn Write + Send>),
}

impl fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("style", &self.style)
            .field("color", &self.color)
            .field(
                "out",
                &match self.out {
                    Output::Stdout => "stdout",
                    Output::Writer(_) => "writer",
                },
            )
            .finish()
    }
}

impl ConsoleExporter {
    /// Aligned columns, human units, colour per kind and status; errors on a second line.
    pub fn pretty() -> Self {
        Self::with_style(Style::Pretty)
    }

    /// One short line per event: `req GET /users/{id} 200 15.0ms`.
    pub fn compact() -> Self {
        Self::with_style(Style::Compact)
    }

    fn with_style(style: Style) -> Self {
        ConsoleExporter {
            style,
            color: None,
            out: Output::Stdout,
            use_color: false,
            buf: Vec::with_capacity(16 << 10),
        }
    }

    /// Forces colour on or off, overriding `NO_COLOR` and terminal detection.
    pub fn color(mut self, on: bool) -> Self {
        self.color = Some(on);
        self
    }

    /// Writes to `w` instead of stdout (colour then stays off unless forced with
    /// [`color`](Self::color)).
    pub fn writer(mut self, w: impl Write + Send + 'static) -> Self {
        self.out = Output::Writer(Box::new(w));
        self
    }

    fn resolve_color(&self) -> bool {
        if let Some(c) = self.color {
            return c;
        }
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return false;
        }
        match self.out {
            Output::Stdout => io::stdout().is_terminal(),
            Output::Writer(_) => false,
        }
    }

    /// Formats one event (with its trailing newline) into `out`.
    fn format(&self, ev: &Event, out: &mut Vec<u8>) {
        let p = Paint(self.use_color);
        match self.style {
            Style::Pretty => pretty(ev, p, out),
            Style::Compact => compact(ev, p, out),
        }
    }
}

impl Exporter for ConsoleExporter {
    fn name(&self) -> &'static str {
        "console"
    }

    fn start(&mut self, _resource: &Resource) -> Result<(), ExportError> {
        self.use_color = self.resolve_color();
        Ok(())
    }

    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for ev in batch.sampled() {
            self.format(ev, &mut buf);
        }
        let r = if buf.is_empty() {
            Ok(())
        } else {
            match &mut self.out {
                Output::Stdout => {
                    let mut lock = io::stdout().lock();
                    lock.write_all(&buf).and_then(|()| lock.flush())
                }
                Output::Writer(w) => w.write_all(&buf).and_then(|()| w.flush()),
            }
        };
        self.buf = buf;
        r.map_err(ExportError::Io)
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        match &mut self.out {
            Output::Stdout => io::stdout().lock().flush(),
            Output::Writer(w) => w.flush(),
        }
        .map_err(ExportError::Io)
    }
}

// ---- formatting ----

/// ANSI colours, or none.
#[derive(Clone, Copy)]
struct Paint(bool);

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD_RED: &str = "\x1b[1;31m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

impl Paint {
    /// Writes `text` in `color`, then pads with spaces to `width` visible characters.
    fn put(self, out: &mut Vec<u8>, color: &str, text: &str, width: usize) {
        if self.0 && !color.is_empty() {
            out.extend_from_slice(color.as_bytes());
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(RESET.as_bytes());
        } else {
            out.extend_from_slice(text.as_bytes());
        }
        pad(out, text, width);
    }
}

fn pad(out: &mut Vec<u8>, text: &str, width: usize) {
    let n = text.chars().count();
    out.resize(out.len() + width.saturating_sub(n), b' ');
}

fn kind_color(ev: &Event) -> &'static str {
    if ev.is_error() {
        return BOLD_RED;
    }
    match ev.kind {
        EventKind::Req(_) => CYAN,
        EventKind::Fn(_) => MAGENTA,
        EventKind::Db(_) => BLUE,
    }
}

fn status_color(status: u16) -> &'static str {
    match status {
        500.. => BOLD_RED,
        400..=499 => YELLOW,
        300..=399 => CYAN,
        200..=299 => GREEN,
        _ => "",
    }
}

fn duration_color(ns: u64) -> &'static str {
    match ns {
        1_000_000_000.. => RED,
        100_000_000.. => YELLOW,
        _ => "",
    }
}

/// `850ns`, `12.3µs`, `15.0ms`, `1.23s`: three significant digits.
pub(crate) fn human_duration(ns: u64) -> String {
    fn sig3(v: f64, unit: &str) -> String {
        if v < 10.0 {
            format!("{v:.2}{unit}")
        } else if v < 100.0 {
            format!("{v:.1}{unit}")
        } else {
            format!("{v:.0}{unit}")
        }
    }
    match ns {
        0..=999 => format!("{ns}ns"),
        1_000..=999_999 => sig3(ns as f64 / 1e3, "µs"),
        1_000_000..=999_999_999 => sig3(ns as f64 / 1e6, "ms"),
        _ => sig3(ns as f64 / 1e9, "s"),
    }
}

fn subject(ev: &Event) -> String {
    match &ev.kind {
        EventKind::Req(r) => format!("{:<7} {}", r.method, r.route.as_str()),
        EventKind::Fn(f) if f.module.is_empty() => f.name.to_string(),
        EventKind::Fn(f) => format!("{}::{}", f.module.as_str(), f.name.as_str()),
        EventKind::Db(d) => format!("{} {}", d.system, d.statement.as_str()),
    }
}

/// The outcome column: status code, `ok`/`error`, or the row count.
fn outcome(ev: &Event) -> (String, &'static str) {
    match &ev.kind {
        EventKind::Req(r) => (r.status.to_string(), status_color(r.status)),
        EventKind::Fn(f) if f.error => ("error".into(), BOLD_RED),
        EventKind::Fn(_) => ("ok".into(), GREEN),
        EventKind::Db(d) if d.error => ("error".into(), BOLD_RED),
        EventKind::Db(d) => match d.rows {
            Some(n) => (format!("rows={n}"), GREEN),
            None => ("ok".into(), GREEN),
        },
    }
}

fn pretty(ev: &Event, p: Paint, out: &mut Vec<u8>) {
    let t = Utc::from_unix_nanos(ev.ts_ns);
    let time = format!(
        "{:02}:{:02}:{:02}.{:03}",
        t.hour, t.minute, t.second, t.millis
    );
    p.put(out, DIM, &time, 13);
    let tag = match ev.kind {
        EventKind::Req(_) => "REQ",
        EventKind::Fn(_) => "FN",
        EventKind::Db(_) => "DB",
    };
    p.put(out, kind_color(ev), tag, 4);
    p.put(out, "", &subject(ev), 48);
    out.push(b' ');
    let (o, oc) = outcome(ev);
    p.put(out, oc, &o, 9);
    let d = human_duration(ev.dur_ns);
    pad(out, &d, 8); // right-aligned
    p.put(out, duration_color(ev.dur_ns), &d, 0);
    out.push(b' ');
    let trace = ev.trace_id.to_hex();
    p.put(out, DIM, &trace.as_str()[..8], 0);
    labels(ev, p, out);
    out.push(b'\n');
    if let Some(text) = ev.error_text() {
        out.extend_from_slice(b"             ");
        let line = format!("\u{2514}\u{2500} {}", one_line(text));
        p.put(out, RED, &line, 0);
        out.push(b'\n');
    }
}

fn compact(ev: &Event, p: Paint, out: &mut Vec<u8>) {
    p.put(out, kind_color(ev), ev.kind_str(), 0);
    out.push(b' ');
    match &ev.kind {
        EventKind::Req(r) => {
            out.extend_from_slice(r.method.as_bytes());
            out.push(b' ');
            out.extend_from_slice(r.route.as_bytes());
        }
        _ => out.extend_from_slice(subject(ev).as_bytes()),
    }
    out.push(b' ');
    let (o, oc) = outcome(ev);
    p.put(out, oc, &o, 0);
    out.push(b' ');
    p.put(
        out,
        duration_color(ev.dur_ns),
        &human_duration(ev.dur_ns),
        0,
    );
    labels(ev, p, out);
    if let Some(text) = ev.error_text() {
        out.push(b' ');
        p.put(out, RED, &format!("error={:?}", one_line(text)), 0);
    }
    out.push(b'\n');
}

/// A request's labels (from the middleware's hooks), each as ` key=value`; a key or value that is
/// empty or holds spaces, quotes, `=` or control characters is quoted and escaped, so a line still
/// splits into its fields and writes nothing raw to the terminal.
fn labels(ev: &Event, p: Paint, out: &mut Vec<u8>) {
    let EventKind::Req(r) = &ev.kind else { return };
    for (k, v) in r.labels.iter() {
        out.push(b' ');
        p.put(out, DIM, &format!("{}={}", field(k), field(v)), 0);
    }
}

fn field(s: &str) -> std::borrow::Cow<'_, str> {
    let plain = !s.is_empty()
        && !s.contains(|c: char| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
    if plain {
        s.into()
    } else {
        format!("{s:?}").into()
    }
}

/// Error texts may span lines; a console line must not.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_duration(850), "850ns");
        assert_eq!(human_duration(1_500), "1.50µs");
        assert_eq!(human_duration(12_345), "12.3µs");
        assert_eq!(human_duration(15_000_000), "15.0ms");
        assert_eq!(human_duration(150_000_000), "150ms");
        assert_eq!(human_duration(1_234_000_000), "1.23s");
    }
}
