//! The `s3` round trip against a real S3-compatible server (s3s-fs).

use std::time::Duration;

use ops_gen::config::Config;
use ops_gen::probe::s3::State;
use ops_gen::probe::{Probe, Reason};

use crate::util::{self, PLANTED, TestExporter};

fn yaml(endpoint: &str, bucket: &str, access: &str, secret: &str) -> String {
    format!(
        "targets:\n  store:\n    kind: s3\n    endpoint: {endpoint}\n    bucket: {bucket}\n    access_key: {access}\n    secret_key: {secret}\n    interval: 100ms\n    timeout: 3s\n"
    )
}

fn probe(yaml: &str) -> Probe {
    let config = Config::parse(yaml, "test.yml").unwrap_or_else(|e| panic!("{e}"));
    let (name, spec) = config.probes().next().unwrap();
    Probe::build(name, spec).unwrap()
}

#[tokio::test]
async fn round_trip_succeeds_and_failures_have_the_right_reason() {
    let (_, _, access, secret) = util::s3();
    let data = util::s3_data("bucket");
    let server = util::OwnS3::start(data.path()).await;
    let (endpoint, bucket) = (server.endpoint(), "bucket".to_owned());
    let out = probe(&yaml(&endpoint, &bucket, &access, &secret)).run().await;
    assert!(out.is_success(), "{out:?}");
    let Some(state) = out.found::<State>() else { panic!("{out:?}") };
    assert!(state.roundtrip_seconds > 0.0 && state.objects.is_some());

    let wrong = probe(&yaml(&endpoint, &bucket, &access, "not-the-secret")).run().await;
    assert_eq!(wrong.failure.as_ref().map(|f| f.reason), Some(Reason::Auth), "{wrong:?}");
    let missing = probe(&yaml(&endpoint, "no-such-bucket-here", &access, &secret)).run().await;
    assert_eq!(missing.failure.as_ref().map(|f| f.reason), Some(Reason::Missing), "{missing:?}");
    let plain = endpoint.replace("http://", "https://");
    let mismatch = probe(&yaml(&plain, &bucket, &access, &secret)).run().await;
    assert_eq!(mismatch.failure.as_ref().map(|f| f.reason), Some(Reason::Tls), "{mismatch:?}");
    let refused = util::servers::refused().await;
    let down = probe(&yaml(&format!("http://{refused}"), &bucket, &access, &secret)).run().await;
    assert_eq!(down.failure.as_ref().map(|f| f.reason), Some(Reason::Connect), "{down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_between_runs_turns_the_series_red() {
    let (_, _, access, secret) = util::s3();
    let data = util::s3_data("own-bucket");
    let mut server = util::OwnS3::start(data.path()).await;
    let exporter = TestExporter::start(&yaml(&server.endpoint(), "own-bucket", &access, &secret)).await;
    let success = r#"opsgen_s3_roundtrip_success{target="store",bucket="own-bucket"}"#;
    util::eventually("a successful round trip", Duration::from_secs(5), async || {
        exporter.scrape().await.value(success) == Some(1.0)
    })
    .await;
    let scrape = exporter.scrape().await;
    assert!(scrape.value(r#"opsgen_s3_objects{target="store",bucket="own-bucket"}"#).is_some(), "{}", scrape.body);
    server.stop();
    util::eventually("the failure to show", Duration::from_secs(5), async || {
        exporter.scrape().await.value(success) == Some(0.0)
    })
    .await;
    let scrape = exporter.scrape().await;
    let failures: Vec<&str> = scrape
        .body
        .lines()
        .filter(|l| l.starts_with("opsgen_check_failures_total{check=\"store\"") && !l.ends_with(" 0"))
        .collect();
    assert_eq!(failures.len(), 1, "only connect failures: {failures:?}");
    assert!(failures[0].contains("reason=\"connect\""), "{failures:?}");
}

#[test]
fn the_secret_key_is_never_shown() {
    let (endpoint, bucket, access, _) = util::s3();
    let dir = util::config_dir(&yaml(&endpoint, &bucket, &access, "${S3_SECRET}"));
    for args in [&["config", "check"][..], &["probe"]] {
        let out = util::run(util::ops_gen(dir.path()).env("S3_SECRET", PLANTED).args(args));
        assert!(!out.all().contains(PLANTED), "{args:?} leaks the secret key:\n{}", out.all());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_set_holds_the_listing_the_integrity_record_and_the_mirror() {
    let (_, _, access, secret) = util::s3();
    let data = tempfile::tempdir().unwrap();
    // s3s-fs serves a folder: a bucket with two objects, one nested.
    std::fs::create_dir_all(data.path().join("media/img")).unwrap();
    std::fs::write(data.path().join("media/index.html"), b"<h1>hello</h1>").unwrap();
    std::fs::write(data.path().join("media/img/logo.svg"), b"<svg/>").unwrap();
    let server = util::OwnS3::start(data.path()).await;
    let work = tempfile::tempdir().unwrap();
    let config = format!(
        "{}backup:\n  dir: {}\n  targets:\n    store:\n      mirror: true\n",
        yaml(&server.endpoint(), "media", &access, &secret),
        work.path().join("backups").display()
    );
    std::fs::write(work.path().join("ops-gen.yml"), &config).unwrap();
    let out = util::run(util::ops_gen(work.path()).args(["backup", "run"]));
    out.expect_code(0);
    let set = ops_gen::backup::sets(&work.path().join("backups")).unwrap().pop().unwrap();
    let listing = std::fs::read_to_string(set.join("s3/store/listing.jsonl")).unwrap();
    assert!(listing.contains("\"key\":\"index.html\"") && listing.contains("\"key\":\"img/logo.svg\""), "{listing}");
    assert!(std::fs::read_to_string(set.join("s3/store/integrity.json")).unwrap().contains("\"roundtrip\":\"ok\""));
    assert_eq!(std::fs::read(set.join("s3/store/objects/img/logo.svg")).unwrap(), b"<svg/>");
    util::run(util::ops_gen(work.path()).args(["backup", "verify"])).expect_code(0);
    let exporter = TestExporter::start(&config).await;
    assert_eq!(exporter.scrape().await.value(r#"opsgen_backup_sets{target="store"}"#), Some(1.0));
    drop(server);
}

/// A bucket `media` with three objects (one nested) in an s3s-fs of the
/// test's own, and a work folder whose config backs it up with its objects.
struct Mirrored {
    data: tempfile::TempDir,
    work: tempfile::TempDir,
    server: util::OwnS3,
}

impl Mirrored {
    async fn new(drill: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("media/img")).unwrap();
        std::fs::write(data.path().join("media/index.html"), b"<h1>hello</h1>").unwrap();
        std::fs::write(data.path().join("media/img/logo.svg"), b"<svg/>").unwrap();
        std::fs::write(data.path().join("media/big.bin"), vec![7u8; 3 << 20]).unwrap();
        let server = util::OwnS3::start(data.path()).await;
        let mirrored = Self { data, work: tempfile::tempdir().unwrap(), server };
        mirrored.write_config(true, drill);
        mirrored
    }

    fn config(&self, mirror: bool, drill: &str) -> String {
        let (_, _, access, secret) = util::s3();
        format!(
            "{}backup:\n  dir: {}\n  targets:\n    store:\n      mirror: {mirror}\n{drill}",
            yaml(&self.server.endpoint(), "media", &access, &secret),
            self.work.path().join("backups").display()
        )
    }

    fn write_config(&self, mirror: bool, drill: &str) {
        std::fs::write(self.work.path().join("ops-gen.yml"), self.config(mirror, drill)).unwrap();
    }

    fn ops_gen(&self, args: &[&str]) -> util::Run {
        util::run(util::ops_gen(self.work.path()).args(args))
    }

    fn newest_set(&self) -> std::path::PathBuf {
        ops_gen::backup::sets(&self.work.path().join("backups")).unwrap().pop().unwrap()
    }

    /// The buckets the server holds (s3s-fs keeps one folder per bucket).
    fn buckets(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.data.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

const DRILL: &str = "      drill:\n        keys: [index.html, img/logo.svg]\n        min_objects: 3\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirrored_set_drills_into_a_scratch_bucket_that_is_removed_after() {
    let store = Mirrored::new(DRILL).await;
    store.ops_gen(&["backup", "run"]).expect_code(0);
    let out = store.ops_gen(&["backup", "drill"]);
    out.expect_code(0);
    assert!(out.stdout.contains("ok   content: 3 object(s) read back with the sha256 of the set"), "{}", out.stdout);
    assert!(out.stdout.contains("ok   object img/logo.svg: exists"), "{}", out.stdout);
    assert_eq!(store.buckets(), ["media"], "the scratch bucket is gone");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.newest_set().join("restore-drill-summary.json")).unwrap()).unwrap();
    let target = &summary["targets"][0];
    assert_eq!((target["target"].as_str(), target["success"].as_bool()), (Some("store"), Some(true)), "{summary}");
    assert!(target["restore_seconds"].as_f64().unwrap() > 0.0);

    let exporter = TestExporter::start(&store.config(true, DRILL)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.value(r#"opsgen_restore_drill_success{target="store"}"#), Some(1.0), "{}", scrape.body);

    // Sanity checks that do not hold fail the drill, and say which.
    store.write_config(true, "      drill:\n        keys: [no-such-object]\n        min_objects: 4\n");
    let out = store.ops_gen(&["backup", "drill"]);
    out.expect_code(1);
    assert!(out.stdout.contains("FAIL object no-such-object: missing"), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL at least 4 objects: 3 objects"), "{}", out.stdout);
    assert_eq!(store.buckets(), ["media"], "a failed drill cleans up too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_scratch_bucket_keeps_only_what_was_there() {
    let store = Mirrored::new("      drill:\n        bucket: scratch\n").await;
    std::fs::create_dir(store.data.path().join("scratch")).unwrap();
    std::fs::write(store.data.path().join("scratch/keep.txt"), b"not ours").unwrap();
    store.ops_gen(&["backup", "run"]).expect_code(0);
    let out = store.ops_gen(&["backup", "drill"]);
    out.expect_code(0);
    assert!(out.stdout.contains("every object back in scratch"), "{}", out.stdout);
    let left: Vec<String> = walk(&store.data.path().join("scratch"));
    assert_eq!(left, ["keep.txt"], "only the drill's own prefix was written and removed");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path).into_iter().map(|f| format!("{}/{f}", entry.file_name().to_string_lossy())));
        } else {
            files.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_puts_the_objects_back_and_keeps_newer_ones() {
    let store = Mirrored::new("").await;
    store.ops_gen(&["backup", "run"]).expect_code(0);
    let set = store.newest_set();
    let media = store.data.path().join("media");
    std::fs::remove_file(media.join("img/logo.svg")).unwrap();
    std::fs::write(media.join("index.html"), b"defaced").unwrap();
    std::fs::write(media.join("new.txt"), b"made after the backup").unwrap();

    // Not mirrored any more: the safety backup could not hold what a
    // restore overwrites, so it refuses before touching anything.
    store.write_config(false, "");
    let out = store.ops_gen(&["backup", "restore", "--from", set.to_str().unwrap(), "--yes"]);
    out.expect_code(2);
    assert!(out.stderr.contains("backup.targets.store.mirror: true"), "{}", out.stderr);
    assert_eq!(std::fs::read(media.join("index.html")).unwrap(), b"defaced");

    store.write_config(true, "");
    let out = store.ops_gen(&["backup", "restore", "--from", set.to_str().unwrap(), "--yes"]);
    out.expect_code(0);
    assert!(out.stdout.contains("3 object(s) restored into media; 1 object(s) not in the set were left in place"));
    assert_eq!(std::fs::read(media.join("index.html")).unwrap(), b"<h1>hello</h1>");
    assert_eq!(std::fs::read(media.join("img/logo.svg")).unwrap(), b"<svg/>");
    assert_eq!(std::fs::read(media.join("new.txt")).unwrap(), b"made after the backup");
    // The safety set holds the defaced state.
    let safety = store.newest_set();
    assert_ne!(safety, set);
    assert_eq!(std::fs::read(safety.join("s3/store/objects/index.html")).unwrap(), b"defaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmirrored_target_has_no_drill_series_and_cannot_take_sanity_checks() {
    let store = Mirrored::new("").await;
    store.write_config(false, "");
    store.ops_gen(&["backup", "run"]).expect_code(0);
    let exporter = TestExporter::start(&store.config(false, "")).await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.value(r#"opsgen_backup_sets{target="store"}"#), Some(1.0), "{}", scrape.body);
    assert!(
        !scrape.body.contains("opsgen_restore_drill"),
        "nothing to drill, so no never-drilled alert:\n{}",
        scrape.body
    );

    store.write_config(false, DRILL);
    let out = store.ops_gen(&["config", "check"]);
    out.expect_code(2);
    assert!(out.stderr.contains("backup.targets.store.drill") && out.stderr.contains("mirror: true"), "{}", out.stderr);
}
