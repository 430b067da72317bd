//! Colour decisions on the real stdout: on for a terminal (a pseudo-terminal made by util-linux's
//! `script`), off when stdout is a pipe, off under `NO_COLOR`. The test runs its own binary again as
//! the child that prints.
#![cfg(feature = "console")]

use std::process::Command;
use std::time::Duration;

use spyglass_core::Spyglass;
use spyglass_exporters::ConsoleExporter;

const CHILD: &str = "SPYGLASS_TEST_CONSOLE_CHILD";

/// In the child: prints one event through the console exporter on stdout. Does nothing otherwise.
#[test]
fn child_prints_to_stdout() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let sg = Spyglass::builder()
        .exporter(ConsoleExporter::compact())
        .build()
        .unwrap();
    sg.emitter()
        .emit_req("GET", "/tty", 200, Duration::from_millis(3));
    sg.shutdown();
}

/// Runs the child with stdout on a pseudo-terminal (`script`) or a pipe; returns its output.
fn run_child(tty: bool, no_color: Option<&str>) -> Option<String> {
    let exe = std::env::current_exe().unwrap();
    let args = "child_prints_to_stdout --exact --nocapture --test-threads=1";
    let mut cmd = if tty {
        let script = ["/usr/bin/script", "/bin/script"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(script) = script else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "util-linux `script` is needed to give the child a terminal"
            );
            eprintln!("SKIPPED: util-linux `script` not found");
            return None;
        };
        let mut c = Command::new(script);
        c.args(["-qec", &format!("{} {args}", exe.display()), "/dev/null"]);
        c
    } else {
        let mut c = Command::new(&exe);
        c.args(args.split(' '));
        c
    };
    cmd.env(CHILD, "1").env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("GET /tty ") && text.contains(" 3.00ms"),
        "the child printed: {text:?}"
    );
    Some(text)
}

#[test]
fn colour_on_a_terminal() {
    let Some(text) = run_child(true, None) else {
        return;
    };
    assert!(
        text.contains("\x1b[36mreq\x1b[0m GET /tty \x1b[32m200\x1b[0m"),
        "{text:?}"
    );
}

#[test]
fn no_colour_on_a_terminal_under_no_color() {
    let Some(text) = run_child(true, Some("1")) else {
        return;
    };
    assert!(!text.contains('\x1b'), "{text:?}");
}

#[test]
fn an_empty_no_color_does_not_count() {
    let Some(text) = run_child(true, Some("")) else {
        return;
    };
    assert!(text.contains("\x1b[36mreq"), "{text:?}");
}

#[test]
fn no_colour_into_a_pipe() {
    let text = run_child(false, None).unwrap();
    assert!(!text.contains('\x1b'), "{text:?}");
}
