//! `ops-gen compose generate`: the committed files, `--check`, and every
//! generated file checked by the tool that owns its format: promtool for
//! Prometheus' config, rules and rule tests; the compose-spec JSON schema
//! and `docker-compose config` for the compose file; a real Prometheus
//! scraping a real exporter for every dashboard and rule expression.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::{self, RealPrometheus, TestExporter, ops_gen, require_tool, run};

/// The profile for the built-in defaults, written into a fresh folder.
fn generated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run(ops_gen(dir.path()).args(["compose", "generate", "--out", "."])).expect_code(0);
    dir
}

#[test]
fn committed_profile_files_equal_the_generator_output() {
    let empty = tempfile::tempdir().unwrap();
    let root = util::repo_root();
    let r = run(ops_gen(empty.path()).args(["compose", "generate", "--check", "--out"]).arg(&root));
    assert_eq!(
        r.code,
        0,
        "the committed profile files drifted from the generator; run `cargo run -- compose generate` at the repo root\n{}",
        r.all()
    );
}

#[test]
fn check_prints_a_diff_and_the_fixing_command() {
    let dir = generated();
    let file = dir.path().join("loki/loki.yml");
    let text = std::fs::read_to_string(&file).unwrap().replace("retention_period: 168h", "retention_period: 1h");
    std::fs::write(&file, text).unwrap();
    let r = run(ops_gen(dir.path()).args(["compose", "generate", "--check", "--out", "."]));
    r.expect_code(1);
    assert!(
        r.stdout.contains("-  retention_period: 1h") && r.stdout.contains("+  retention_period: 168h"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("run `ops-gen compose generate --out .`"), "{}", r.stderr);
    // --check wrote nothing; a plain run repairs it and is then a no-op.
    assert!(std::fs::read_to_string(&file).unwrap().contains("1h"));
    run(ops_gen(dir.path()).args(["compose", "generate", "--out", "."])).expect_code(0);
    let again = run(ops_gen(dir.path()).args(["compose", "generate", "--out", "."]));
    assert!(again.stdout.contains("(0 changed)"), "{}", again.stdout);
}

#[test]
fn bad_profile_config_names_the_key_and_the_fix() {
    for (text, key, fix) in [
        ("profile:\n  services: [grafna]\n", "profile.services[0]", "did you mean `grafana`?"),
        (
            "profile:\n  images:\n    prometheus: 'Prom/Prometheus:'\n",
            "profile.images.prometheus",
            "[registry/]repository:tag",
        ),
        ("profile:\n  ports:\n    grafana: 9090\n", "profile.ports.grafana", "its own port"),
        ("profile:\n  retention:\n    logs: 2h\n", "profile.retention.logs", "24h"),
        ("stack:\n  files: [missing.yml]\n", "missing.yml", "stack.files"),
    ] {
        let dir = util::config_dir(text);
        let r = run(ops_gen(dir.path()).args(["compose", "generate"]));
        r.expect_code(2);
        assert!(r.stderr.contains(key) && r.stderr.contains(fix), "{text}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
        assert!(!dir.path().join("compose").exists(), "nothing written on a bad config");
    }
}

#[test]
fn an_invalid_app_compose_file_is_named_with_its_line() {
    let dir = util::config_dir("stack:\n  files: [app.yml]\n");
    std::fs::write(dir.path().join("app.yml"), "services:\n  web:\n    image: nginx\n    ports: {x: 1}\n").unwrap();
    let r = run(ops_gen(dir.path()).args(["compose", "generate"]));
    r.expect_code(2);
    assert!(r.stderr.contains("app.yml line ") && r.stderr.contains("services.web"), "{}", r.stderr);
}

#[test]
fn the_profile_joins_the_app_and_passes_config_variables_by_name() {
    let dir =
        util::config_dir("stack:\n  files: [app.yml]\ntargets:\n  db:\n    kind: postgres\n    url: ${APP_DB_URL}\n");
    std::fs::write(
        dir.path().join("app.yml"),
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n    networks: [front]\n  db:\n    image: postgres:16\nnetworks:\n  front: {}\n",
    )
    .unwrap();
    let r = run(ops_gen(dir.path())
        .env("APP_DB_URL", format!("postgres://u:{}@db/app", util::PLANTED))
        .args(["compose", "generate"]));
    r.expect_code(0);
    let compose = std::fs::read_to_string(dir.path().join("compose/docker-compose.ops.yml")).unwrap();
    let doc: serde_json::Value = serde_norway::from_str(&compose).unwrap();
    let exporter = &doc["services"]["ops-gen"];
    assert!(exporter["environment"].as_array().unwrap().iter().any(|v| v == "APP_DB_URL"), "{exporter}");
    assert!(exporter["networks"]["front"].is_object() || exporter["networks"]["front"].is_null(), "{exporter}");
    assert!(exporter["networks"].as_object().unwrap().contains_key("front"), "{exporter}");
    let monitors = std::fs::read_to_string(dir.path().join("uptime-kuma/monitors.json")).unwrap();
    assert!(monitors.contains("http://web:80/"), "{monitors}");
    for entry in walk(dir.path()) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(!text.contains(util::PLANTED), "secret written into {}", entry.display());
    }
}

pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

#[test]
fn promtool_accepts_the_config_the_rules_and_the_rule_tests() {
    let promtool = require_tool("promtool", "prometheus");
    let dir = generated();
    let prom = dir.path().join("prometheus");
    let check = |args: &[&str]| {
        let out = Command::new(&promtool).args(args).current_dir(&prom).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "promtool {}: {text}", args.join(" "));
        text
    };
    check(&["check", "config", "prometheus.yml"]);
    let rules: Vec<String> = walk(&prom.join("rules")).iter().map(|p| p.display().to_string()).collect();
    assert!(!rules.is_empty(), "no rule files generated");
    let mut args = vec!["check", "rules"];
    args.extend(rules.iter().map(String::as_str));
    let text = check(&args);
    assert!(text.contains("SUCCESS"), "{text}");
    let tests: Vec<String> = walk(&prom.join("tests")).iter().map(|p| p.display().to_string()).collect();
    assert!(!tests.is_empty(), "no rule tests generated");
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    check(&args);
}

#[test]
fn the_compose_file_is_valid_compose_spec_and_loads_in_docker_compose() {
    let dir = generated();
    let file = dir.path().join("compose/docker-compose.ops.yml");
    // The compose-spec schema docker-compose 1.29 ships, with Debian's
    // python3-jsonschema (both come with `apt install docker-compose`).
    let schema = "/usr/lib/python3/dist-packages/compose/config/compose_spec.json";
    assert!(Path::new(schema).exists(), "{schema} is missing: run `scripts/services.sh up` (installs docker-compose)");
    util::validate_schema(Path::new(schema), &file).unwrap_or_else(|e| panic!("schema: {e}"));

    let compose = require_tool("docker-compose", "docker-compose");
    let out = Command::new(compose)
        .args(["-p", "ops-gen", "--project-directory"])
        .arg(dir.path())
        .arg("-f")
        .arg(&file)
        .args(["--profile", "ops", "config", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker-compose config: {}", String::from_utf8_lossy(&out.stderr));
}

/// What `docker stack deploy` ignores in a service, warning or not (docker/cli's
/// `unsupportedProperties`, plus `depends_on`, which Swarm never reads).
const SWARM_IGNORES: &[&str] = &[
    "build",
    "cgroup_parent",
    "container_name",
    "depends_on",
    "devices",
    "domainname",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "network_mode",
    "pid",
    "privileged",
    "restart",
    "security_opt",
    "shm_size",
    "userns_mode",
];

#[test]
fn the_stack_file_is_valid_for_swarm_and_keeps_the_profiles_limits() {
    let dir = util::config_dir(
        "stack:\n  project: shop\n  files: [app.yml]\nprofile:\n  services: [ops-gen, prometheus, grafana, loki, alloy, cadvisor, node-exporter, dozzle, socket-proxy]\n",
    );
    std::fs::write(
        dir.path().join("app.yml"),
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n    networks: [front]\nnetworks:\n  front: {}\n",
    )
    .unwrap();
    run(ops_gen(dir.path()).args(["compose", "generate"])).expect_code(0);
    let stack_file = dir.path().join("compose/docker-stack.ops.yml");
    let compose_file = dir.path().join("compose/docker-compose.ops.yml");

    // docker/cli's v3.8 schema, the one `docker stack deploy` validates a
    // `version: "3.8"` file against (vendored, see tests/data/compose-schemas).
    let schema = util::repo_root().join("tests/data/compose-schemas/config_schema_v3.8.json");
    util::validate_schema(&schema, &stack_file).unwrap_or_else(|e| panic!("the stack file: {e}"));
    // The Compose file is not (profiles, mem_limit, depends_on conditions),
    // so the check above can fail.
    assert!(util::validate_schema(&schema, &compose_file).is_err());

    let stack: serde_json::Value = serde_norway::from_str(&std::fs::read_to_string(&stack_file).unwrap()).unwrap();
    let compose: serde_json::Value = serde_norway::from_str(&std::fs::read_to_string(&compose_file).unwrap()).unwrap();
    assert_eq!(stack["version"], "3.8");
    let services = stack["services"].as_object().unwrap();
    assert_eq!(
        services.keys().collect::<Vec<_>>(),
        compose["services"].as_object().unwrap().keys().collect::<Vec<_>>(),
        "the same services"
    );
    for (name, service) in services {
        let keys: Vec<&String> = service.as_object().unwrap().keys().collect();
        for key in SWARM_IGNORES.iter().chain(&["mem_limit", "profiles", "ports"]) {
            assert!(!keys.iter().any(|k| k == key), "{name}: Swarm would refuse or ignore `{key}`");
        }
        let deploy = &service["deploy"];
        assert_eq!(
            deploy["resources"]["limits"]["memory"], compose["services"][name]["mem_limit"],
            "{name}: the same memory limit"
        );
        assert!(deploy["resources"]["limits"]["memory"].is_string(), "{name}: {deploy}");
        assert_eq!(deploy["restart_policy"]["condition"], "any", "{name}");
        assert_eq!(deploy["placement"]["constraints"], serde_json::json!(["node.labels.ops-gen == true"]), "{name}");
        assert_eq!(service["image"], compose["services"][name]["image"], "{name}");
        assert_eq!(service["healthcheck"], compose["services"][name]["healthcheck"], "{name}");
        // Bind mounts relative to the stack file's folder, which is where
        // `docker stack deploy -c compose/docker-stack.ops.yml` resolves them.
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let spec = volume.as_str().unwrap();
            assert!(!spec.starts_with("./"), "{name}: {spec}");
        }
    }
    assert_eq!(services["prometheus"]["volumes"][1], "../prometheus:/etc/prometheus:ro");
    // node_exporter reads the host's /proc through its root mount instead of `pid: host`.
    let node_args = services["node-exporter"]["command"].as_array().unwrap();
    assert!(node_args.iter().any(|a| a == "--path.procfs=/host/proc"), "{node_args:?}");
    assert_eq!(compose["services"]["node-exporter"]["pid"], "host");
    // The profile network is an attachable overlay; the app's network is the
    // app stack's, external.
    assert_eq!(stack["networks"]["ops"]["driver"], "overlay");
    assert_eq!(stack["networks"]["ops"]["attachable"], true);
    assert_eq!(stack["networks"]["front"], serde_json::json!({"external": true, "name": "shop_front"}));
    assert!(services["ops-gen"]["networks"].as_object().unwrap().contains_key("front"));

    // An extra, not the required check: where a Docker CLI with `docker stack
    // config` is installed (Docker 23+; Debian's 20.10 has none), its own
    // loader must accept the file without a warning and resolve the bind
    // mounts into the project folder.
    let cli = ["/usr/local/bin/docker", "/usr/bin/docker"].into_iter().find(|cli| {
        // 20.10 answers `stack config --help` with the help of `stack`.
        Command::new(cli)
            .args(["stack", "config", "--help"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("docker stack config"))
    });
    if let Some(cli) = cli {
        let out = Command::new(cli).args(["stack", "config", "-c"]).arg(&stack_file).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{cli} stack config: {stderr}");
        assert!(stderr.trim().is_empty(), "{cli} stack config warns: {stderr}");
        let prometheus_dir = dir.path().join("prometheus").display().to_string();
        assert!(stdout.contains(&format!("source: {prometheus_dir}")), "{stdout}");
    }
}

/// Every `PromQL` expression of the dashboards and the rules, with Grafana's
/// variables replaced the way Grafana would.
fn expressions(dir: &Path) -> Vec<(String, String, bool)> {
    let mut exprs = Vec::new();
    for file in walk(&dir.join("grafana/dashboards")) {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for panel in doc["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let Some(expr) = target["expr"].as_str() else { continue };
                if target["datasource"]["uid"] == "${loki_datasource}" {
                    continue;
                }
                let expr = expr
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "1m")
                    .replace("$__auto", "1m")
                    .replace("$__range", "1h")
                    .replace("${project}", ".*")
                    .replace("$project", ".*")
                    .replace("${service}", ".*")
                    .replace("$service", ".*");
                exprs.push((format!("{} / {}", file.display(), panel["title"]), expr, true));
            }
        }
    }
    for file in walk(&dir.join("prometheus/rules")) {
        let doc: serde_json::Value = serde_norway::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for group in doc["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap_or("?").to_owned();
                exprs.push((name, rule["expr"].as_str().unwrap().to_owned(), false));
            }
        }
    }
    exprs
}

#[tokio::test]
async fn every_dashboard_and_rule_query_evaluates_on_a_real_prometheus() {
    let dir = generated();
    let exporter =
        TestExporter::start("checks:\n  backups:\n    kind: file_freshness\n    path: /tmp/*.dump\n    max_age: 26h\n")
            .await;
    let scrape = exporter.scrape().await;
    let series: BTreeSet<String> = scrape
        .body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_owned))
        .collect();
    let tsdb = tempfile::tempdir().unwrap();
    let prometheus = RealPrometheus::start(
        tsdb.path(),
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ops-gen\n    static_configs:\n      - targets: ['{}']\n",
            exporter.addr
        ),
    );
    util::eventually("Prometheus to scrape the exporter", Duration::from_secs(30), async || {
        prometheus.query("up{job=\"ops-gen\"}").await.as_deref() == Some("1")
    })
    .await;
    // Two scrapes, so rate() over the last minute has data.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let exprs = expressions(dir.path());
    assert!(exprs.len() > 40, "only {} expressions found", exprs.len());
    let mut failures = Vec::new();
    let mut empty_own = Vec::new();
    for (name, expr, dashboard) in &exprs {
        let (status, results) = prometheus.evaluate(expr).await;
        if status != "success" {
            failures.push(format!("{name}: {expr}: {status}"));
            continue;
        }
        // A dashboard panel that only reads the exporter's own series (and
        // filters nothing out) must show data.
        let metrics: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("opsgen_"))
            .collect();
        let filters = ["==", "!=", ">", "<", " unless ", " and "].iter().any(|op| expr.contains(op));
        let own = !metrics.is_empty() && metrics.iter().all(|m| series.contains(*m)) && !expr.contains("job=");
        if *dashboard && own && !filters && results == 0 {
            empty_own.push(format!("{name}: {expr}"));
        }
    }
    assert!(failures.is_empty(), "queries Prometheus rejects:\n{}", failures.join("\n"));
    assert!(empty_own.is_empty(), "the exporter's own panels show no data:\n{}", empty_own.join("\n"));
}

/// The exporter reaches Docker through the socket proxy only when the
/// profile runs one: without it no `DOCKER_HOST` points at a service that
/// does not exist.
#[test]
fn the_exporter_gets_docker_host_only_with_the_socket_proxy() {
    let exporter_env = |services: &str| {
        let dir = util::config_dir(&format!("profile:\n  services: [{services}]\n"));
        run(ops_gen(dir.path()).args(["compose", "generate", "--out", "."])).expect_code(0);
        let compose: serde_norway::Value = serde_norway::from_str(
            &std::fs::read_to_string(dir.path().join("compose/docker-compose.ops.yml")).unwrap(),
        )
        .unwrap();
        serde_norway::to_string(&compose["services"]["ops-gen"]["environment"]).unwrap()
    };
    assert!(exporter_env("ops-gen, prometheus, socket-proxy").contains("DOCKER_HOST=tcp://socket-proxy:2375"));
    assert!(!exporter_env("ops-gen, prometheus").contains("DOCKER_HOST"));
}

/// Only the services that run get their files: no Grafana, Loki, log
/// shipper or Uptime Kuma files for a profile without them.
#[test]
fn disabled_services_get_no_files() {
    let dir = util::config_dir("profile:\n  services: [ops-gen, prometheus]\n");
    run(ops_gen(dir.path()).args(["compose", "generate", "--out", "."])).expect_code(0);
    for folder in ["grafana", "loki", "alloy", "promtail", "uptime-kuma"] {
        assert!(!dir.path().join(folder).exists(), "{folder}/ was written for a service that does not run");
    }
    assert!(dir.path().join("prometheus").is_dir(), "the rules and their tests are written always");
}
