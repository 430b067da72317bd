//! Console exporter output for each kind of event, pretty and compact, with and without colour.
#![cfg(feature = "console")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spyglass_core::context::TraceId;
use spyglass_core::event::{Event, EventKind};
use spyglass_core::export::{Batch, Exporter};
use spyglass_core::Spyglass;
use spyglass_exporters::ConsoleExporter;

/// A writer the test keeps a handle on; counts the `write` calls it receives.
#[derive(Clone, Default)]
struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    writes: Arc<Mutex<usize>>,
}

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        *self.writes.lock().unwrap() += 1;
        self.buf.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.buf.lock().unwrap().clone()).unwrap()
    }
}

/// 2024-11-19T07:06:40.123Z
const TS: u64 = 1_732_000_000_123_000_000;

fn fixed(mut ev: Event) -> Event {
    ev.ts_ns = TS;
    ev.trace_id = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap();
    ev
}

fn events() -> Vec<Event> {
    let mut ok = fixed(Event::request("GET", "/users/{id}", 200, 15_000_000));
    if let EventKind::Req(r) = &mut ok.kind {
        r.bytes_out = 1200;
        r.labels.insert("tenant", "acme");
        r.labels.insert("plan", "pro plus");
        r.labels.insert("odd key", "\x1b[31mred");
    }
    let not_found = fixed(Event::request("POST", "/orders", 404, 850_000));
    let mut panicked = fixed(Event::request("GET", "/boom", 500, 2_500_000_000));
    if let EventKind::Req(r) = &mut panicked.kind {
        r.error = Some("handler panicked: index out of bounds".into());
    }
    let call = fixed(Event::function("load_user", "shop::users", 1_500, false));
    let mut failed = fixed(Event::function(
        "charge",
        "shop::billing",
        120_000_000,
        true,
    ));
    if let EventKind::Fn(f) = &mut failed.kind {
        f.error_text = Some("card declined\nretry later".into());
    }
    let query = fixed(Event::query(
        "SELECT * FROM users WHERE id = ?",
        "sqlite",
        Some(1),
        8_000_000,
    ));
    vec![ok, not_found, panicked, call, failed, query]
}

fn render(exporter: ConsoleExporter) -> (String, usize) {
    let cap = Capture::default();
    let mut e = exporter.writer(cap.clone());
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    e.start(sg.resource()).unwrap();
    let evs = events();
    e.export(&Batch {
        events: &evs,
        resource: sg.resource(),
    })
    .unwrap();
    let writes = *cap.writes.lock().unwrap();
    (cap.text(), writes)
}

#[test]
fn compact_without_colour() {
    let (text, writes) = render(ConsoleExporter::compact().color(false));
    let expected = "\
req GET /users/{id} 200 15.0ms tenant=acme plan=\"pro plus\" \"odd key\"=\"\\u{1b}[31mred\"
req POST /orders 404 850µs
req GET /boom 500 2.50s error=\"handler panicked: index out of bounds\"
fn shop::users::load_user ok 1.50µs
fn shop::billing::charge error 120ms error=\"card declined retry later\"
db sqlite SELECT * FROM users WHERE id = ? rows=1 8.00ms
";
    assert_eq!(text, expected);
    assert_eq!(writes, 1, "one write per batch");
}

#[test]
fn pretty_without_colour() {
    let (text, writes) = render(ConsoleExporter::pretty().color(false));
    let expected = "\
07:06:40.123 REQ GET     /users/{id}                              200        15.0ms 4bf92f35 tenant=acme plan=\"pro plus\" \"odd key\"=\"\\u{1b}[31mred\"
07:06:40.123 REQ POST    /orders                                  404         850µs 4bf92f35
07:06:40.123 REQ GET     /boom                                    500         2.50s 4bf92f35
             └─ handler panicked: index out of bounds
07:06:40.123 FN  shop::users::load_user                           ok         1.50µs 4bf92f35
07:06:40.123 FN  shop::billing::charge                            error       120ms 4bf92f35
             └─ card declined retry later
07:06:40.123 DB  sqlite SELECT * FROM users WHERE id = ?          rows=1     8.00ms 4bf92f35
";
    assert_eq!(text, expected, "\n{text}");
    assert_eq!(writes, 1, "one write per batch");
    // Columns line up: every event line has its duration column at the same place (a request's
    // labels follow the trace id, at the end).
    let ends: Vec<usize> = text
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split(" 4bf92f35").next().unwrap().chars().count())
        .collect();
    assert!(ends.windows(2).all(|w| w[0] == w[1]), "{ends:?}");
}

#[test]
fn compact_with_colour() {
    let (text, _) = render(ConsoleExporter::compact().color(true));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    // Kind in its colour, status in the colour of its class.
    assert_eq!(
        lines[0],
        "\x1b[36mreq\x1b[0m GET /users/{id} \x1b[32m200\x1b[0m 15.0ms \x1b[2mtenant=acme\x1b[0m \x1b[2mplan=\"pro plus\"\x1b[0m \x1b[2m\"odd key\"=\"\\u{1b}[31mred\"\x1b[0m"
    );
    assert_eq!(
        lines[1],
        "\x1b[36mreq\x1b[0m POST /orders \x1b[33m404\x1b[0m 850µs"
    );
    // Errors stand out: bold red kind and status, red text; slow calls in red (≥ 1 s).
    assert_eq!(
        lines[2],
        "\x1b[1;31mreq\x1b[0m GET /boom \x1b[1;31m500\x1b[0m \x1b[31m2.50s\x1b[0m \x1b[31merror=\"handler panicked: index out of bounds\"\x1b[0m"
    );
    assert_eq!(
        lines[3],
        "\x1b[35mfn\x1b[0m shop::users::load_user \x1b[32mok\x1b[0m 1.50µs"
    );
    assert!(lines[4].starts_with("\x1b[1;31mfn\x1b[0m"));
    assert!(lines[4].contains("\x1b[1;31merror\x1b[0m \x1b[33m120ms\x1b[0m"));
    assert_eq!(
        lines[5],
        "\x1b[34mdb\x1b[0m sqlite SELECT * FROM users WHERE id = ? \x1b[32mrows=1\x1b[0m 8.00ms"
    );
}

#[test]
fn pretty_with_colour_keeps_the_columns() {
    let (coloured, _) = render(ConsoleExporter::pretty().color(true));
    let (plain, _) = render(ConsoleExporter::pretty().color(false));
    assert!(coloured.contains("\x1b[36mREQ\x1b[0m"));
    assert!(coloured.contains("\x1b[1;31mREQ\x1b[0m"));
    assert!(coloured.contains("\x1b[35mFN\x1b[0m"));
    assert!(coloured.contains("\x1b[34mDB\x1b[0m"));
    assert!(coloured.contains("\x1b[31m└─ card declined retry later\x1b[0m"));
    // Without the escape sequences, the coloured output is the plain one: padding ignores them.
    assert_eq!(strip_ansi(&coloured), plain);
}

#[test]
fn a_custom_writer_gets_no_colour_unless_asked() {
    let (text, _) = render(ConsoleExporter::pretty());
    assert!(!text.contains('\x1b'));
}

#[test]
fn only_sampled_events_are_printed() {
    let cap = Capture::default();
    let sg = Spyglass::builder()
        .sample(0.0)
        .exporter(ConsoleExporter::compact().writer(cap.clone()))
        .build()
        .unwrap();
    sg.emitter()
        .emit_req("GET", "/fine", 200, Duration::from_millis(1));
    sg.emitter()
        .emit_req("GET", "/broken", 503, Duration::from_millis(1));
    sg.shutdown();
    assert_eq!(cap.text(), "req GET /broken 503 1.00ms\n");
}

#[test]
fn a_failing_writer_is_an_export_error_not_a_panic() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sg = Spyglass::builder()
        .exporter(ConsoleExporter::compact().writer(Broken))
        .build()
        .unwrap();
    sg.emitter().emit_fn("f", Duration::from_millis(1), false);
    sg.shutdown();
    assert_eq!(sg.collector().export_errors, 1);
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
