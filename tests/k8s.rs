//! `ops-gen k8s generate`: the committed manifests, `--check`, every
//! manifest against the strict Kubernetes schemas (v1.33, vendored under
//! `tests/data/k8s-schemas/`), the prometheus-operator CRD schemas
//! (`PrometheusRule`, `ServiceMonitor`) and `SchemaStore`'s Kustomization
//! schema, and
//! the `PrometheusRule`'s groups through real promtool with the compose
//! profile's own rule unit tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::profile::walk;
use crate::util::{self, ops_gen, require_tool, run};

/// The manifests for `config` (the built-in defaults when `None`), written
/// into a fresh folder with the compose profile next to them.
fn generated(config: Option<&str>) -> tempfile::TempDir {
    let dir = match config {
        Some(text) => util::config_dir(text),
        None => tempfile::tempdir().unwrap(),
    };
    run(ops_gen(dir.path()).args(["k8s", "generate", "--out", "."])).expect_code(0);
    run(ops_gen(dir.path()).args(["compose", "generate", "--out", "."])).expect_code(0);
    dir
}

fn yaml(path: &Path) -> serde_json::Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn schemas() -> PathBuf {
    util::repo_root().join("tests/data/k8s-schemas")
}

#[test]
fn committed_manifests_equal_the_generator_output() {
    let empty = tempfile::tempdir().unwrap();
    let r = run(ops_gen(empty.path()).args(["k8s", "generate", "--check", "--out"]).arg(util::repo_root()));
    assert_eq!(
        r.code,
        0,
        "the committed k8s/ manifests drifted from the generator; run `cargo run -- k8s generate` at the repo root\n{}",
        r.all()
    );
}

#[test]
fn check_prints_a_diff_and_the_fixing_command() {
    let dir = generated(None);
    let file = dir.path().join("k8s/deployment.yaml");
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("replicas: 1", "replicas: 2")).unwrap();
    let r = run(ops_gen(dir.path()).args(["k8s", "generate", "--check", "--out", "."]));
    r.expect_code(1);
    assert!(r.stdout.contains("-  replicas: 2") && r.stdout.contains("+  replicas: 1"), "{}", r.stdout);
    assert!(r.stderr.contains("run `ops-gen k8s generate --out .`"), "{}", r.stderr);
}

#[test]
fn every_manifest_validates_against_the_kubernetes_schemas() {
    let dir = generated(Some(
        "targets:\n  db:\n    kind: postgres\n    url: ${APP_DB_URL:-postgres://u@db/app}\nbackup:\n  targets:\n    db: {max_age: 26h}\n",
    ));
    let k8s = dir.path().join("k8s");
    let mut kinds = Vec::new();
    for file in walk(&k8s) {
        let doc = yaml(&file);
        let kind = doc["kind"].as_str().unwrap().to_owned();
        let schema = match (doc["apiVersion"].as_str().unwrap(), kind.as_str()) {
            ("apps/v1", "Deployment") => "deployment-apps-v1.json",
            ("batch/v1", "CronJob") => "cronjob-batch-v1.json",
            ("v1", "Service") => "service-v1.json",
            ("v1", "ConfigMap") => "configmap-v1.json",
            ("v1", "Secret") => "secret-v1.json",
            ("v1", "PersistentVolumeClaim") => "persistentvolumeclaim-v1.json",
            ("monitoring.coreos.com/v1", "PrometheusRule") => "prometheusrule-monitoring-v1.json",
            ("monitoring.coreos.com/v1", "ServiceMonitor") => "servicemonitor-monitoring-v1.json",
            ("kustomize.config.k8s.io/v1beta1", "Kustomization") => "kustomization.json",
            other => panic!("{}: no schema for {other:?}", file.display()),
        };
        util::validate_schema(&schemas().join(schema), &file)
            .unwrap_or_else(|e| panic!("{} is not a valid {kind}: {e}", file.display()));
        kinds.push(kind);
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "CronJob",
            "Deployment",
            "Kustomization",
            "PersistentVolumeClaim",
            "PrometheusRule",
            "Secret",
            "Service",
            "ServiceMonitor"
        ]
    );

    // The schemas are strict: an unknown key fails, so the check above can fail.
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(k8s.join("deployment.yaml")).unwrap();
    std::fs::write(&bad, text.replace("replicas: 1", "replicas: 1\n  replica: 1")).unwrap();
    assert!(util::validate_schema(&schemas().join("deployment-apps-v1.json"), &bad).is_err());
    let text = std::fs::read_to_string(k8s.join("servicemonitor.yaml")).unwrap();
    std::fs::write(&bad, text.replace("scrapeTimeout: 10s", "scrapeTimeout: 10s\n    timeout: 10s")).unwrap();
    assert!(util::validate_schema(&schemas().join("servicemonitor-monitoring-v1.json"), &bad).is_err());
    let text = std::fs::read_to_string(k8s.join("kustomization.yaml")).unwrap();
    std::fs::write(&bad, format!("{text}resource: [extra.yaml]\n")).unwrap();
    assert!(util::validate_schema(&schemas().join("kustomization.json"), &bad).is_err());

    // The ServiceMonitor selects the Service's port by name, for the
    // Service that selects the Deployment's pods.
    let (monitor, service, deployment) =
        (yaml(&k8s.join("servicemonitor.yaml")), yaml(&k8s.join("service.yaml")), yaml(&k8s.join("deployment.yaml")));
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        service["metadata"]["labels"]["app.kubernetes.io/name"]
            .as_str()
            .map(|n| serde_json::json!({"app.kubernetes.io/name": n}))
            .unwrap()
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]);
    assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack");

    // The kustomization applies every manifest but the Secret template.
    let kustomization = yaml(&k8s.join("kustomization.yaml"));
    let mut listed: Vec<String> =
        kustomization["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect();
    listed.sort();
    let mut on_disk: Vec<String> = walk(&k8s)
        .iter()
        .map(|p| p.strip_prefix(&k8s).unwrap().display().to_string())
        .filter(|p| p != "kustomization.yaml" && p != "secret.template.yaml")
        .collect();
    on_disk.sort();
    assert_eq!(listed, on_disk);
}

#[test]
fn the_exporter_runs_locked_down_and_reads_the_backups_the_cronjobs_write() {
    let dir = generated(None);
    let k8s = dir.path().join("k8s");
    let deployment = yaml(&k8s.join("deployment.yaml"));
    let pod = &deployment["spec"]["template"]["spec"];
    let exporter = &pod["containers"][0];
    assert_eq!(exporter["securityContext"]["runAsNonRoot"], true);
    assert_eq!(exporter["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(exporter["securityContext"]["allowPrivilegeEscalation"], false);
    assert!(
        exporter["resources"]["limits"]["memory"].is_string() && exporter["resources"]["requests"]["cpu"].is_string()
    );
    let claim = yaml(&k8s.join("backups-pvc.yaml"))["metadata"]["name"].clone();
    let backups = |pod: &serde_json::Value| {
        let volume = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "backups").unwrap().clone();
        let mount = pod["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "backups")
            .unwrap()
            .clone();
        (volume, mount)
    };
    let (volume, mount) = backups(pod);
    assert_eq!(volume["persistentVolumeClaim"]["claimName"], claim);
    assert_eq!(mount["readOnly"], true);
    // Where the exporter looks for sets: backup.dir under its working folder.
    assert_eq!(mount["mountPath"], "/data/output/backups");
    for (file, command) in [("cronjob-backup.yaml", ["backup", "run"]), ("cronjob-drill.yaml", ["backup", "drill"])] {
        let job = yaml(&k8s.join(file));
        let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["args"], serde_json::json!(command), "{file}");
        assert_eq!(pod["containers"][0]["workingDir"], exporter["workingDir"], "{file}");
        let (volume, mount) = backups(pod);
        assert_eq!(volume["persistentVolumeClaim"]["claimName"], claim, "{file}");
        assert_eq!(mount["readOnly"], false, "{file}");
        assert_eq!(mount["mountPath"], "/data/output/backups", "{file}");
        assert_eq!(pod["containers"][0]["securityContext"]["runAsNonRoot"], true, "{file}");
    }
    // Dashboards for the Grafana sidecar: the very JSON of the compose profile.
    for file in walk(&dir.path().join("grafana/dashboards")) {
        let name = file.file_name().unwrap().to_str().unwrap();
        let map = yaml(&k8s.join("dashboards").join(name.replace(".json", ".yaml")));
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
        assert_eq!(map["data"][name].as_str().unwrap(), std::fs::read_to_string(&file).unwrap(), "{name}");
    }
}

#[test]
fn the_prometheus_rule_passes_promtool_and_the_profiles_rule_tests() {
    let promtool = require_tool("promtool", "prometheus");
    let dir = generated(None);
    let rule = yaml(&dir.path().join("k8s/prometheusrule.yaml"));
    // Its groups, as a rule file where the profile's unit tests look for it.
    let extracted = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(extracted.path().join("rules")).unwrap();
    std::fs::create_dir_all(extracted.path().join("tests")).unwrap();
    let groups = serde_json::json!({"groups": rule["spec"]["groups"]});
    std::fs::write(extracted.path().join("rules/ops-gen.yml"), serde_norway::to_string(&groups).unwrap()).unwrap();
    std::fs::copy(
        dir.path().join("prometheus/tests/ops-gen.test.yml"),
        extracted.path().join("tests/ops-gen.test.yml"),
    )
    .unwrap();
    assert_eq!(
        groups,
        yaml(&dir.path().join("prometheus/rules/ops-gen.yml")),
        "the PrometheusRule holds exactly the profile's groups"
    );
    for args in [&["check", "rules", "rules/ops-gen.yml"][..], &["test", "rules", "tests/ops-gen.test.yml"][..]] {
        let out = Command::new(&promtool).args(args).current_dir(extracted.path()).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn manifests_never_hold_a_secret_value() {
    let dir = util::config_dir(
        "targets:\n  db:\n    kind: postgres\n    url: ${APP_DB_URL}\n  store:\n    kind: s3\n    endpoint: http://s3:9000\n    bucket: b\n    access_key: ${APP_S3_KEY}\n    secret_key: ${APP_S3_SECRET}\n",
    );
    run(ops_gen(dir.path())
        .env("APP_DB_URL", format!("postgres://u:{}@db/app", util::PLANTED))
        .env("APP_S3_KEY", util::PLANTED)
        .env("APP_S3_SECRET", util::PLANTED)
        .args(["k8s", "generate"]))
    .expect_code(0);
    for file in walk(&dir.path().join("k8s")) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(util::PLANTED), "secret written into {}", file.display());
    }
    let secret = yaml(&dir.path().join("k8s/secret.template.yaml"));
    assert_eq!(
        secret["stringData"],
        serde_json::json!({"APP_DB_URL": "${APP_DB_URL}", "APP_S3_KEY": "${APP_S3_KEY}", "APP_S3_SECRET": "${APP_S3_SECRET}"})
    );
    let deployment = yaml(&dir.path().join("k8s/deployment.yaml"));
    let exporter = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(exporter["envFrom"][0]["secretRef"]["name"], secret["metadata"]["name"]);
    assert_eq!(exporter["envFrom"][0]["secretRef"]["optional"], false, "the config needs it");
}
