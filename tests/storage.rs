//! `ops-gen storage status | clean` against a real Docker engine (a volume
//! carrying the profile's labels, filled by a container) and real backup
//! sets taken from the test PostgreSQL, next to planted bundles and smoke
//! results.

use std::collections::BTreeSet;
use std::path::Path;

use crate::util::{self, Run, ops_gen, run};

/// A volume with the profile's and the project's labels, holding `bytes`
/// written by a container; removed when dropped.
struct ProfileVolume {
    host: String,
    name: String,
}

impl ProfileVolume {
    fn create(host: &str, project: &str, bytes: u32) -> Self {
        let name = util::unique("opsgen_storage_vol");
        util::docker(
            host,
            &[
                "volume",
                "create",
                "--label",
                "dev.ops-gen.profile=ops",
                "--label",
                &format!("com.docker.compose.project={project}"),
                &name,
            ],
        );
        let fill = format!("head -c {bytes} /dev/urandom > /data/blob");
        util::docker(
            host,
            &["run", "--rm", "-v", &format!("{name}:/data"), "ops-gen-test/busybox:1", "sh", "-c", &fill],
        );
        Self { host: host.to_owned(), name }
    }
}

impl Drop for ProfileVolume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(["volume", "rm", "-f", &self.name])
            .output();
    }
}

fn storage(dir: &Path, host: &str, args: &[&str]) -> Run {
    run(ops_gen(dir).env("DOCKER_HOST", host).args(args))
}

fn item<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

#[test]
fn status_sizes_volumes_and_folders_against_the_budget() {
    let host = util::docker_host();
    let project = util::unique("storagest").replace('_', "-");
    let dir = util::config_dir(&format!("stack:\n  project: {project}\nprofile:\n  disk_budget: 1GiB\n"));
    let volume = ProfileVolume::create(&host, &project, 300_000);
    let run_dir = dir.path().join("output/smoke/20260102T000000Z");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(run_dir.join("result.json"), vec![b'x'; 1000]).unwrap();

    let ok = storage(dir.path(), &host, &["--json", "storage", "status"]);
    ok.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    let bytes = item(&report, &volume.name)["bytes"].as_u64().unwrap();
    assert!((300_000..400_000).contains(&bytes), "the volume's size: {bytes}");
    assert_eq!(item(&report, "output/smoke")["bytes"], 1000);
    assert_eq!(item(&report, "output/backups")["bytes"], 0, "a missing folder is 0 B");
    assert_eq!(report["total_bytes"].as_u64().unwrap(), bytes + 1000);
    assert!(report["free_bytes"].as_u64().unwrap() > 0);
    let text = storage(dir.path(), &host, &["storage", "status"]);
    text.expect_code(0);
    assert!(
        text.stdout.contains(&volume.name) && text.stdout.contains("within the disk budget of 1.0 GiB"),
        "{}",
        text.stdout
    );

    // A 1.5 GiB bundle (sparse: its apparent size is what counts) is over.
    std::fs::create_dir_all(dir.path().join("output/ops")).unwrap();
    let archive = std::fs::File::create(dir.path().join("output/ops/20260101T000000Z.tar.gz")).unwrap();
    archive.set_len(3 << 29).unwrap();
    let over = storage(dir.path(), &host, &["storage", "status"]);
    over.expect_code(1);
    assert!(over.stdout.contains("OVER the disk budget") && over.stdout.contains("storage clean"), "{}", over.stdout);

    // No engine: the volumes are unknown, the folders still measured.
    let blind = storage(dir.path(), "unix:///nonexistent/docker.sock", &["storage", "status"]);
    blind.expect_code(1);
    assert!(blind.stdout.contains("volumes unknown: cannot reach the Docker engine"), "{}", blind.stdout);
    assert!(blind.stdout.contains("output/smoke") && !blind.stdout.contains(&volume.name), "{}", blind.stdout);
}

/// Names in `dir`.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// Everything under the three output folders.
fn snapshot(dir: &Path) -> Vec<BTreeSet<String>> {
    ["output/ops", "output/smoke", "output/backups"].iter().map(|f| names(&dir.join(f))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_applies_retention_after_confirmation() {
    let host = util::docker_host();
    let (db_url, _) = util::postgres_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = |keep_last: u32| {
        format!(
            "targets:\n  db:\n    kind: postgres\n    url: {db_url}\nbackup:\n  retention:\n    keep_last: {keep_last}\n"
        )
    };
    // Three real sets; only the oldest is verified.
    std::fs::write(dir.path().join("ops-gen.yml"), config(10)).unwrap();
    for _ in 0..3 {
        run(ops_gen(dir.path()).args(["backup", "run"])).expect_code(0);
    }
    let backups = dir.path().join("output/backups");
    let sets = ops_gen::backup::sets(&backups).unwrap();
    assert_eq!(sets.len(), 3);
    run(ops_gen(dir.path()).args(["backup", "verify"]).arg(&sets[0])).expect_code(0);
    std::fs::write(dir.path().join("ops-gen.yml"), config(1)).unwrap();

    // Seven bundles (folder and archive), eight smoke runs; latest.json
    // points at the newest run and, as the last failure, at the oldest.
    let ops = dir.path().join("output/ops");
    for i in 0..7 {
        std::fs::create_dir_all(ops.join(format!("20260101T00000{i}Z"))).unwrap();
        std::fs::write(ops.join(format!("20260101T00000{i}Z/bundle.json")), "{}").unwrap();
        std::fs::write(ops.join(format!("20260101T00000{i}Z.tar.gz")), vec![0u8; 100]).unwrap();
    }
    let smoke = dir.path().join("output/smoke");
    for i in 0..8 {
        std::fs::create_dir_all(smoke.join(format!("20260102T00000{i}Z"))).unwrap();
        std::fs::write(smoke.join(format!("20260102T00000{i}Z/result.json")), "{}").unwrap();
    }
    let latest = serde_json::json!({
        "success": true, "last_run_at": "2026-01-02T00:00:07Z", "last_run_timestamp_seconds": 1.0,
        "result": "output/smoke/20260102T000007Z/result.json",
        "last_failure": {"at": "2026-01-02T00:00:00Z", "timestamp_seconds": 0.0, "reason": "x",
                         "result": "output/smoke/20260102T000000Z/result.json"},
    });
    std::fs::write(smoke.join("latest.json"), latest.to_string()).unwrap();
    let before = snapshot(dir.path());

    // No terminal, no --yes: refused, nothing deleted.
    let refused = storage(dir.path(), &host, &["storage", "clean"]);
    refused.expect_code(2);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(snapshot(dir.path()), before);

    // --dry-run: shows exactly what would go, deletes nothing.
    let dry = storage(dir.path(), &host, &["storage", "clean", "--dry-run"]);
    dry.expect_code(0);
    let middle = sets[1].file_name().unwrap().to_string_lossy().into_owned();
    for shown in ["20260101T000000Z.tar.gz", "20260101T000001Z", "20260102T000001Z", "20260102T000002Z", &middle] {
        assert!(dry.stdout.contains(shown), "{shown} missing from\n{}", dry.stdout);
    }
    assert!(dry.stdout.contains("frees") && dry.stdout.contains("5 item(s)"), "{}", dry.stdout);
    assert_eq!(snapshot(dir.path()), before);

    let done = storage(dir.path(), &host, &["--json", "storage", "clean", "--yes"]);
    done.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(report["removed"].as_array().unwrap().len(), 7, "{report:#}");
    assert!(report["freed_bytes"].as_u64().unwrap() > 200);
    let after = snapshot(dir.path());
    let expected_ops: BTreeSet<String> =
        (2..7).flat_map(|i| [format!("20260101T00000{i}Z"), format!("20260101T00000{i}Z.tar.gz")]).collect();
    assert_eq!(after[0], expected_ops);
    let mut expected_smoke: BTreeSet<String> =
        [0, 3, 4, 5, 6, 7].iter().map(|i| format!("20260102T00000{i}Z")).collect();
    expected_smoke.insert("latest.json".to_owned());
    assert_eq!(after[1], expected_smoke);
    // The newest set (keep_last 1) and the newest verified one stay.
    let kept = ops_gen::backup::sets(&backups).unwrap();
    assert_eq!(kept, vec![sets[0].clone(), sets[2].clone()]);

    // Within retention now: nothing to do.
    let again = storage(dir.path(), &host, &["storage", "clean"]);
    again.expect_code(0);
    assert!(again.stdout.contains("nothing to clean"), "{}", again.stdout);
}
