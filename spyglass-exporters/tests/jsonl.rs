//! JSONL exporter behaviour, over real files: rotation under concurrent producers, retention, gzip,
//! write errors (directory replaced by a file, a full filesystem) with exact loss accounting and
//! recovery.
#![cfg(feature = "jsonl")]

mod support;

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use spyglass_core::Spyglass;
use spyglass_exporters::JsonlExporter;

const FLUSH: Duration = Duration::from_secs(30);

/// Every file of the exporter in `dir` (plain or gzipped), sorted by name.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn contents(path: &Path) -> String {
    let mut raw = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(fs::File::open(path).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
    } else {
        raw = fs::read(path).unwrap();
    }
    String::from_utf8(raw).unwrap()
}

/// Parses every line of every file; checks each closed file ends with a newline; returns the
/// events' `dur_ns` (the tests' event ids) in file order.
fn read_ids(dir: &Path) -> Vec<u64> {
    let mut ids = Vec::new();
    for f in files(dir) {
        let text = contents(&f);
        assert!(!text.is_empty(), "{} is empty", f.display());
        assert!(
            text.ends_with('\n'),
            "{} does not end with a newline",
            f.display()
        );
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: bad line {line:?}: {e}", f.display()));
            assert_eq!(v["service"], "shop");
            ids.push(v["dur_ns"].as_u64().unwrap());
        }
    }
    ids
}

fn assert_each_once(ids: &[u64], expected: impl IntoIterator<Item = u64>) {
    let mut seen = HashSet::new();
    for id in ids {
        assert!(seen.insert(*id), "event {id} written twice");
    }
    let expected: HashSet<u64> = expected.into_iter().collect();
    assert_eq!(seen.len(), expected.len(), "number of events");
    assert!(seen == expected, "a different set of events was written");
}

fn instance(jsonl: JsonlExporter) -> Spyglass {
    Spyglass::builder()
        .service_name("shop")
        .queue_size(1 << 17)
        .batch_max(256)
        .exporter(jsonl)
        .build()
        .unwrap()
}

/// Emits the event with id `id` (its `dur_ns`), cycling through the three kinds.
fn emit(sg: &Spyglass, id: u64) {
    let em = sg.emitter();
    let d = Duration::from_nanos(id);
    match id % 3 {
        0 => em.emit_req("GET", "/items/{id}", 200, d),
        1 => em.emit_fn("work", d, false),
        _ => em.emit_db("SELECT * FROM items WHERE id = 1", d, Some(1)),
    }
}

#[test]
fn concurrent_producers_across_many_rotations_write_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    const LIMIT: u64 = 8 * 1024;
    let jsonl = JsonlExporter::new(dir.path()).rotate_bytes(LIMIT);
    let stats = jsonl.stats();
    let sg = instance(jsonl);
    const THREADS: u64 = 8;
    const PER: u64 = 5_000;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let sg = &sg;
            s.spawn(move || {
                for i in 0..PER {
                    emit(sg, 1 + t * PER + i);
                }
            });
        }
    });
    sg.shutdown();
    let c = sg.collector();
    assert_eq!(c.dropped, 0, "queue large enough for every event");
    assert_eq!(c.export_errors, 0);
    assert_eq!(stats.written(), THREADS * PER);
    assert_eq!(stats.lost(), 0);

    let ids = read_ids(dir.path());
    assert_each_once(&ids, 1..=THREADS * PER);
    let n = files(dir.path()).len() as u64;
    assert!(n >= 100, "expected many rotations, got {n} files");
    assert_eq!(stats.files_opened(), n);
    assert_eq!(stats.rotations(), n - 1);
    for f in files(dir.path()) {
        let len = fs::metadata(&f).unwrap().len();
        assert!(len <= LIMIT, "{} has {len} bytes > {LIMIT}", f.display());
    }
    // Names follow the default template, made unique within a second by a counter.
    for f in files(dir.path()) {
        let name = f.file_name().unwrap().to_str().unwrap();
        let mid = name
            .strip_prefix("spyglass-")
            .and_then(|r| r.strip_suffix(".jsonl"))
            .unwrap_or_else(|| panic!("unexpected name {name}"));
        let (ts, n) = mid.split_once('-').unwrap_or((mid, "0"));
        assert_eq!(ts.len(), 16, "{name}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[8] == b'T', "{name}");
        assert!(n.parse::<u32>().is_ok(), "{name}");
    }
}

#[test]
fn only_sampled_events_are_written_and_errors_always_are() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = JsonlExporter::new(dir.path());
    let stats = jsonl.stats();
    let sg = Spyglass::builder()
        .service_name("shop")
        .sample(0.0)
        .queue_size(4096)
        .exporter(jsonl)
        .build()
        .unwrap();
    for i in 1..=100 {
        sg.emitter().emit_fn("ok", Duration::from_nanos(i), false);
    }
    for i in 101..=110 {
        sg.emitter()
            .emit_fn("failing", Duration::from_nanos(i), true);
    }
    sg.shutdown();
    assert_eq!(stats.written(), 10);
    assert_each_once(&read_ids(dir.path()), 101..=110);
}

/// A request's labels (set by a middleware hook) are written as a `labels` object; a request
/// without labels has no such field.
#[test]
fn request_labels_are_written() {
    use spyglass_core::event::{EventKind, ReqEvent};
    use spyglass_core::Labels;

    let dir = tempfile::tempdir().unwrap();
    let sg = instance(JsonlExporter::new(dir.path()));
    let em = sg.emitter();
    let mut labels = Labels::new();
    labels.insert("tenant", "acme");
    labels.insert("note", String::from("say \"hi\"\n"));
    for (i, labels) in [labels, Labels::new()].into_iter().enumerate() {
        em.emit_span(
            sg.new_request_context(None, None),
            i as u64 + 1,
            EventKind::Req(ReqEvent {
                method: "GET",
                route: "/users/{id}".into(),
                status: 200,
                bytes_in: 0,
                bytes_out: 0,
                error: None,
                labels,
            }),
        );
    }
    sg.shutdown();
    let lines: Vec<serde_json::Value> = files(dir.path())
        .iter()
        .flat_map(|f| {
            contents(f)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines.len(), 2);
    let by_id = |id: u64| lines.iter().find(|v| v["dur_ns"] == id).unwrap();
    assert_eq!(
        by_id(1)["labels"],
        serde_json::json!({"tenant": "acme", "note": "say \"hi\"\n"})
    );
    assert!(by_id(2).get("labels").is_none(), "{}", by_id(2));
}

#[test]
fn retention_keeps_the_newest_files() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = JsonlExporter::new(dir.path())
        .rotate_bytes(2048)
        .max_files(3);
    let stats = jsonl.stats();
    let sg = instance(jsonl);
    for id in 1..=2000 {
        emit(&sg, id);
    }
    sg.shutdown();
    assert_eq!(stats.written(), 2000);
    let names = files(dir.path());
    assert!(names.len() <= 3, "{names:?}");
    assert!(stats.files_deleted() > 0);
    assert_eq!(
        stats.files_deleted() + names.len() as u64,
        stats.files_opened()
    );
    // What is left is the end of the stream, without holes.
    let mut ids = read_ids(dir.path());
    ids.sort_unstable();
    assert_eq!(*ids.last().unwrap(), 2000);
    let first = ids[0];
    assert_eq!(ids, (first..=2000).collect::<Vec<_>>());
}

#[test]
fn max_age_deletes_old_files_of_the_template_only() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("spyglass-20200101T000000Z.jsonl");
    let old_gz = dir.path().join("spyglass-20200101T000001Z.jsonl.gz");
    let unrelated = dir.path().join("notes.txt");
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    for p in [&old, &old_gz, &unrelated] {
        fs::write(p, "{}\n").unwrap();
        fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
    }
    let jsonl = JsonlExporter::new(dir.path()).max_age(Duration::from_secs(86_400));
    let stats = jsonl.stats();
    let sg = instance(jsonl);
    emit(&sg, 7);
    sg.shutdown();
    assert!(!old.exists() && !old_gz.exists(), "old files deleted");
    assert!(
        unrelated.exists(),
        "files not matching the template are left alone"
    );
    assert_eq!(stats.files_deleted(), 2);
    assert_eq!(files(dir.path()).len(), 2); // notes.txt and the new file
}

#[test]
fn gzip_compresses_every_closed_file_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = JsonlExporter::new(dir.path()).rotate_bytes(4096).gzip(true);
    let stats = jsonl.stats();
    let sg = instance(jsonl);
    for id in 1..=3000 {
        emit(&sg, id);
    }
    sg.shutdown(); // waits for the housekeeper
    let all = files(dir.path());
    let gz: Vec<_> = all
        .iter()
        .filter(|p| p.to_str().unwrap().ends_with(".jsonl.gz"))
        .collect();
    let plain: Vec<_> = all
        .iter()
        .filter(|p| p.to_str().unwrap().ends_with(".jsonl"))
        .collect();
    assert_eq!(
        gz.len() + plain.len(),
        all.len(),
        "no temporaries left: {all:?}"
    );
    assert_eq!(plain.len(), 1, "only the file open at shutdown stays plain");
    assert!(gz.len() >= 10, "{} gz files", gz.len());
    assert_eq!(stats.files_compressed(), gz.len() as u64);
    assert_eq!(stats.housekeeping_errors(), 0);
    assert_each_once(&read_ids(dir.path()), 1..=3000);
}

#[test]
fn gzip_with_retention_keeps_the_newest_events() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = JsonlExporter::new(dir.path())
        .rotate_bytes(2048)
        .max_files(4)
        .gzip(true);
    let stats = jsonl.stats();
    let sg = instance(jsonl);
    for id in 1..=3000 {
        emit(&sg, id);
    }
    sg.shutdown();
    let all = files(dir.path());
    assert!(all.len() <= 4, "{all:?}");
    assert!(stats.files_deleted() > 0);
    // A compressed file keeps the time of its last event, so it never looks newer than a file
    // written after it.
    let plain = all
        .iter()
        .find(|p| p.to_str().unwrap().ends_with(".jsonl"))
        .unwrap();
    let current = fs::metadata(plain).unwrap().modified().unwrap();
    for f in all.iter().filter(|p| p.to_str().unwrap().ends_with(".gz")) {
        assert!(fs::metadata(f).unwrap().modified().unwrap() <= current);
    }
    let mut ids = read_ids(dir.path());
    ids.sort_unstable();
    assert_eq!(*ids.last().unwrap(), 3000);
    let first = ids[0];
    assert_eq!(
        ids,
        (first..=3000).collect::<Vec<_>>(),
        "the newest events, without holes"
    );
}

#[test]
fn rotates_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = JsonlExporter::new(dir.path()).rotate_secs(1);
    let stats = jsonl.stats();
    let sg = instance(jsonl);
    let mut id = 0;
    support::wait_until(20, "a rotation by age", || {
        id += 1;
        emit(&sg, id);
        sg.flush(FLUSH);
        (stats.rotations() >= 1).then_some(())
    });
    id += 1;
    emit(&sg, id);
    sg.shutdown();
    assert!(files(dir.path()).len() >= 2);
    assert_each_once(&read_ids(dir.path()), 1..=id);
}

#[test]
fn filename_template_with_pid() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = JsonlExporter::new(dir.path())
        .filename_template("app-{pid}-{timestamp}.log")
        .rotate_bytes(1);
    let sg = instance(jsonl);
    for id in 1..=20 {
        emit(&sg, id);
    }
    sg.shutdown();
    let names = files(dir.path());
    assert_eq!(
        names.len(),
        20,
        "a line longer than the limit gets a file of its own"
    );
    let prefix = format!("app-{}-", std::process::id());
    for f in &names {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&prefix) && name.ends_with(".log"),
            "{name}"
        );
    }
    assert_each_once(&read_ids(dir.path()), 1..=20);
}

#[test]
fn directory_replaced_by_a_file_loses_an_exact_count_then_recovers() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logs");
    let jsonl = JsonlExporter::new(&dir);
    let stats = jsonl.stats();
    let sg = instance(jsonl);

    for id in 1..=100 {
        emit(&sg, id);
    }
    assert!(sg.flush(FLUSH));
    assert_eq!(stats.written(), 100);
    assert_each_once(&read_ids(&dir), 1..=100);

    // The directory disappears, and a regular file takes its name: nothing can be written.
    fs::remove_dir_all(&dir).unwrap();
    fs::write(&dir, "not a directory").unwrap();
    for id in 101..=150 {
        emit(&sg, id);
    }
    assert!(sg.flush(FLUSH));
    assert_eq!(
        stats.lost(),
        50,
        "every event of the outage, counted exactly"
    );
    assert_eq!(stats.written(), 100);
    assert!(stats.write_errors() >= 1);
    assert!(
        sg.collector().export_errors >= 1,
        "reported to the collector"
    );

    // The way is clear again: the directory is re-created and writing resumes.
    fs::remove_file(&dir).unwrap();
    for id in 151..=220 {
        emit(&sg, id);
    }
    sg.shutdown();
    assert_eq!(stats.written(), 170);
    assert_eq!(stats.lost(), 50);
    assert_each_once(&read_ids(&dir), 151..=220);
}

#[test]
fn removed_directory_is_recreated_without_losing_events() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logs");
    let jsonl = JsonlExporter::new(&dir);
    let stats = jsonl.stats();
    let sg = instance(jsonl);
    for id in 1..=10 {
        emit(&sg, id);
    }
    assert!(sg.flush(FLUSH));
    fs::remove_dir_all(&dir).unwrap();
    for id in 11..=30 {
        emit(&sg, id);
    }
    sg.shutdown();
    assert_eq!(stats.lost(), 0);
    assert_eq!(stats.written(), 30);
    // The open file was unlinked with its directory: the exporter noticed and started a new one
    // instead of writing into a deleted file.
    assert_each_once(&read_ids(&dir), 11..=30);
}

/// A size-limited tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(path.to_path_buf())),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").map_or(true, |v| v != "true"),
                    "cannot mount a tmpfs for the disk-full test: {why}"
                );
                eprintln!("SKIPPED: cannot mount a tmpfs (needs root): {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn full_disk_cuts_partial_lines_counts_losses_and_recovers() {
    let root = tempfile::tempdir().unwrap();
    let mnt = root.path().join("small");
    let Some(_fs) = Tmpfs::mount(&mnt, "256k") else {
        return;
    };
    let dir = mnt.join("logs");
    let jsonl = JsonlExporter::new(&dir);
    let stats = jsonl.stats();
    let sg = instance(jsonl);

    for id in 1..=200 {
        emit(&sg, id);
    }
    assert!(sg.flush(FLUSH));
    assert_eq!(stats.written(), 200);

    // Fill the filesystem.
    let filler = mnt.join("filler");
    {
        use std::io::Write;
        let mut f = fs::File::create(&filler).unwrap();
        let block = vec![b'x'; 4096];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected, got {e}");
                    break;
                }
            }
        }
    }
    for id in 201..=700 {
        emit(&sg, id);
    }
    assert!(sg.flush(FLUSH));
    assert!(stats.lost() > 0, "a full disk loses events");
    assert_eq!(stats.written() + stats.lost(), 700);
    assert!(sg.collector().export_errors >= 1);

    // Space comes back: writing resumes in a new file.
    fs::remove_file(&filler).unwrap();
    for id in 701..=800 {
        emit(&sg, id);
    }
    sg.shutdown();
    assert_eq!(stats.written() + stats.lost(), 800);
    let ids = read_ids(&dir); // every line parses, every file ends with a newline
    eprintln!(
        "disk full: written {} lost {} errors {} files {}",
        stats.written(),
        stats.lost(),
        stats.write_errors(),
        stats.files_opened()
    );
    assert_eq!(
        ids.len() as u64,
        stats.written(),
        "the written count is exact"
    );
    let set: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "no event written twice");
    assert!(
        (1..=200).all(|i| set.contains(&i)),
        "events before the outage kept"
    );
    assert!(
        (701..=800).all(|i| set.contains(&i)),
        "events after the outage written"
    );
}
