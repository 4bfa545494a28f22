//! The `s3` round trip against a real S3-compatible server (s3s-fs).

use std::time::Duration;

use ops_gen::config::Config;
use ops_gen::probe::{Details, Probe, Reason};

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
    let Details::S3(state) = &out.details else { panic!("{out:?}") };
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
