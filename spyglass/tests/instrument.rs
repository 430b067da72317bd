//! `#[spyglass::instrument]` over the real global instance and an in-memory exporter.
//!
//! Each test installs the global instance, so this suite runs under cargo-nextest (one process per
//! test), which is what the README's test command uses.

use std::time::Duration;

use spyglass::context::{self, FutureExt, TraceContext};
use spyglass::event::EventKind;
use spyglass::export::InMemoryExporter;
use spyglass::Event;

fn install() -> (spyglass::SpyglassGuard, InMemoryExporter) {
    let mem = InMemoryExporter::new();
    let guard = spyglass::Spyglass::builder()
        .service_name("test")
        .exporter(mem.clone())
        .install()
        .expect("first install");
    (guard, mem)
}

fn fn_events(mem: &InMemoryExporter) -> Vec<(String, String, bool, Option<String>, Event)> {
    mem.events()
        .into_iter()
        .filter_map(|e| match &e.kind {
            EventKind::Fn(f) => Some((
                f.name.to_string(),
                f.module.to_string(),
                f.error,
                f.error_text.as_deref().map(str::to_string),
                e.clone(),
            )),
            _ => None,
        })
        .collect()
}

#[derive(Debug)]
struct MyError;
impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error text")
    }
}

#[derive(Debug)]
struct NoDisplay;

#[spyglass::instrument]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[spyglass::instrument]
fn fails(fail: bool) -> Result<u32, MyError> {
    if fail {
        return Err(MyError);
    }
    Ok(1)
}

#[spyglass::instrument]
fn fails_no_display() -> Result<(), NoDisplay> {
    Err(NoDisplay)
}

#[spyglass::instrument]
fn question_mark(fail: bool) -> Result<u32, MyError> {
    let v = fails(fail)?;
    Ok(v + 1)
}

#[spyglass::instrument]
fn generic<T: std::fmt::Debug + Clone>(t: &T) -> T {
    t.clone()
}

#[spyglass::instrument]
fn outer_sync() -> u32 {
    add(1, 2) + add(3, 4)
}

#[spyglass::instrument]
async fn leaf_async(x: u32) -> u32 {
    tokio::task::yield_now().await;
    x * 2
}

#[spyglass::instrument]
async fn outer_async() -> u32 {
    let a = leaf_async(1).await;
    let b = tokio::spawn(leaf_async(2).in_current_context())
        .await
        .unwrap();
    a + b + add(0, 0)
}

#[spyglass::instrument(name = "renamed")]
fn original_name() {}

#[spyglass::instrument]
fn impl_trait() -> impl Iterator<Item = u32> {
    0..3
}

struct Repo {
    base: u32,
}

#[spyglass::instrument]
impl Repo {
    fn get(&self, k: u32) -> u32 {
        self.base + k
    }

    async fn get_async(&self, k: u32) -> Result<u32, MyError> {
        Ok(self.base + k)
    }

    #[instrument(skip)]
    fn not_recorded(&self) -> u32 {
        self.base
    }

    #[instrument(name = "Repo::custom")]
    fn renamed_method(&self) {}

    fn borrowed(&self) -> &u32 {
        &self.base
    }
}

#[test]
fn sync_fn_records_name_module_and_result() {
    let (guard, mem) = install();
    assert_eq!(add(2, 3), 5);
    assert!(fails(true).is_err());
    assert!(fails(false).is_ok());
    assert!(fails_no_display().is_err());
    assert_eq!(generic(&"x".to_string()), "x");
    original_name();
    assert_eq!(impl_trait().sum::<u32>(), 3);
    drop(guard);
    let evs = fn_events(&mem);
    let names: Vec<_> = evs.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "add",
            "fails",
            "fails",
            "fails_no_display",
            "generic",
            "renamed",
            "impl_trait"
        ]
    );
    assert!(evs.iter().all(|e| e.1 == "instrument"), "module path");
    assert!(!evs[0].2);
    assert!(evs[1].2, "Err counts as an error");
    assert_eq!(evs[1].3.as_deref(), Some("my error text"));
    assert!(!evs[2].2);
    assert!(evs[3].2);
    assert_eq!(evs[3].3, None, "no Display, no text");
    let snap = spyglass::stats().snapshot(Duration::from_secs(60));
    let fails_row = snap.functions.iter().find(|f| f.name == "fails").unwrap();
    assert_eq!((fails_row.count, fails_row.errors), (2, 1));
}

#[test]
fn question_mark_error_counts_and_nesting() {
    let (guard, mem) = install();
    assert!(question_mark(true).is_err());
    drop(guard);
    let evs = fn_events(&mem);
    assert_eq!(evs.len(), 2);
    let (inner, outer) = (&evs[0], &evs[1]);
    assert_eq!(
        (inner.0.as_str(), outer.0.as_str()),
        ("fails", "question_mark")
    );
    assert!(
        inner.2 && outer.2,
        "the error propagated through ? is an error of both"
    );
    assert_eq!(inner.4.trace_id, outer.4.trace_id);
    assert_eq!(inner.4.parent_span_id, Some(outer.4.span_id));
    assert_eq!(outer.4.parent_span_id, None);
}

#[test]
fn sync_calls_nest_under_the_current_context() {
    let (guard, mem) = install();
    let root = TraceContext::new_root(true);
    root.in_scope(outer_sync);
    assert!(context::current().is_none());
    drop(guard);
    let evs = fn_events(&mem);
    assert_eq!(evs.len(), 3);
    let outer = &evs[2].4;
    assert_eq!(evs[2].0, "outer_sync");
    assert_eq!(outer.parent_span_id, Some(root.span_id()));
    for leaf in &evs[..2] {
        assert_eq!(leaf.0, "add");
        assert_eq!(leaf.4.trace_id, root.trace_id());
        assert_eq!(leaf.4.parent_span_id, Some(outer.span_id));
    }
}

#[test]
fn async_calls_nest_across_await_and_spawn() {
    let (guard, mem) = install();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = TraceContext::new_root(true);
    let v = rt.block_on(root.scope(outer_async()));
    assert_eq!(v, 6);
    drop(rt);
    drop(guard);
    let evs = fn_events(&mem);
    let outer = evs.iter().find(|e| e.0 == "outer_async").unwrap();
    assert_eq!(outer.4.parent_span_id, Some(root.span_id()));
    let children: Vec<_> = evs.iter().filter(|e| e.0 != "outer_async").collect();
    assert_eq!(children.len(), 3, "two leaf_async and one add");
    for c in children {
        assert_eq!(c.4.trace_id, root.trace_id());
        assert_eq!(c.4.parent_span_id, Some(outer.4.span_id), "{}", c.0);
    }
    assert!(outer.4.dur_ns > 0);
}

#[test]
fn methods_in_impl_blocks() {
    let (guard, mem) = install();
    let r = Repo { base: 10 };
    assert_eq!(r.get(1), 11);
    assert_eq!(r.not_recorded(), 10);
    r.renamed_method();
    assert_eq!(*r.borrowed(), 10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(r.get_async(2)).unwrap(), 12);
    drop(guard);
    let names: Vec<_> = fn_events(&mem).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            "Repo::get",
            "Repo::custom",
            "Repo::borrowed",
            "Repo::get_async"
        ]
    );
}

#[test]
fn panics_count_as_errors() {
    #[spyglass::instrument]
    fn boom() -> u32 {
        panic!("kaboom")
    }
    let (guard, mem) = install();
    let r = std::panic::catch_unwind(boom);
    assert!(r.is_err());
    assert!(context::current().is_none(), "context restored after panic");
    drop(guard);
    let evs = fn_events(&mem);
    assert_eq!(evs.len(), 1);
    assert!(evs[0].2);
    assert_eq!(evs[0].3.as_deref(), Some("panicked"));
}
