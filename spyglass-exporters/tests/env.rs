//! Exporters from environment variables: `from_env` builds what is asked for, and
//! `register_env` makes `Builder::from_env` (and the default global instance) use it.
#![cfg(all(feature = "jsonl", feature = "console", feature = "prometheus"))]

use std::collections::HashMap;
use std::time::Duration;

use spyglass_core::config::{ConsoleStyle, EnvExporters};
use spyglass_core::Spyglass;

#[test]
fn from_env_builds_each_requested_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = EnvExporters::default();
    assert!(spyglass_exporters::from_env(&env).unwrap().is_empty());
    env.jsonl_dir = Some(dir.path().to_path_buf());
    env.console = Some(ConsoleStyle::Compact);
    env.prometheus = true;
    let made = spyglass_exporters::from_env(&env).unwrap();
    let names: Vec<&str> = made.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["jsonl", "console", "prometheus"]);
}

#[test]
fn variables_turn_exporters_on_with_no_code() {
    spyglass_exporters::register_env();
    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<&str, String> = [
        ("OTEL_SERVICE_NAME", "from-env".to_string()),
        ("SPYGLASS_JSONL_DIR", dir.path().display().to_string()),
        ("SPYGLASS_PROMETHEUS", "1".to_string()),
    ]
    .into();
    let sg = Spyglass::builder()
        .from_vars(|k| vars.get(k).cloned())
        .build()
        .unwrap();
    sg.emitter()
        .emit_req("GET", "/env", 200, Duration::from_millis(2));
    assert!(sg.flush(Duration::from_secs(30)));
    let metrics = sg
        .render_metrics()
        .expect("SPYGLASS_PROMETHEUS=1 serves metrics");
    assert!(metrics.contains(r#"http_route="/env""#), "{metrics}");
    assert!(metrics.contains(r#"service_name="from-env""#), "{metrics}");
    sg.shutdown();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "SPYGLASS_JSONL_DIR writes there");
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains(r#""route":"/env""#) && text.contains(r#""service":"from-env""#));
}
