//! The binary as a user meets it: help, `config check`, `probe`, and every
//! kind of bad input with its exit code and one-line message.

use crate::util::{self, Run, config_dir, ops_gen, run, servers};

fn snapshot_filters() -> Vec<(&'static str, &'static str)> {
    vec![(r"ops-gen \d+\.\d+\.\d+", "ops-gen [VERSION]"), (r"/tmp/\.tmp\w+", "[TMP]")]
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ops_gen(dir.path()).arg("--help"));
    out.expect_code(0);
    insta::with_settings!({ filters => snapshot_filters() }, { insta::assert_snapshot!("help", out.stdout) });
    let out = run(ops_gen(dir.path()).args(["probe", "--help"]));
    out.expect_code(0);
    insta::with_settings!({ filters => snapshot_filters() }, { insta::assert_snapshot!("probe_help", out.stdout) });
    let out = run(ops_gen(dir.path()).args(["jobs", "--help"]));
    out.expect_code(0);
    insta::with_settings!({ filters => snapshot_filters() }, { insta::assert_snapshot!("jobs_help", out.stdout) });
}

#[test]
fn version_and_completions_and_man_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ops_gen(dir.path()).arg("--version"));
    assert!(out.expect_code(0).stdout.starts_with("ops-gen "));
    let out = run(ops_gen(dir.path()).args(["completions", "bash"]));
    assert!(out.expect_code(0).stdout.contains("complete -F _ops__gen"));
    let out = run(ops_gen(dir.path()).arg("man"));
    assert!(out.expect_code(0).stdout.contains(".TH ops-gen"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    run(ops_gen(dir.path()).arg("no-such-command")).expect_code(2);
    run(ops_gen(dir.path()).args(["serve", "--listen", "not-an-address"])).expect_code(2);
}

#[test]
fn without_a_config_file_the_built_in_defaults_apply() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ops_gen(dir.path()).args(["config", "check"]));
    out.expect_code(0);
    assert!(out.stdout.starts_with("# <built-in defaults>: valid."), "{}", out.stdout);
    assert!(out.stdout.contains("path: output/backups/*/complete.json"));

    // No backup yet: the one built-in check fails, and says why.
    let out = run(ops_gen(dir.path()).arg("probe"));
    out.expect_code(1);
    assert!(out.stdout.contains("backups") && out.stdout.contains("missing: no file matches"), "{}", out.stdout);

    std::fs::create_dir_all(dir.path().join("output/backups/20261123T020000Z")).unwrap();
    std::fs::write(dir.path().join("output/backups/20261123T020000Z/manifest.json"), "{}").unwrap();
    // A manifest alone (a partial set) is not a successful backup.
    run(ops_gen(dir.path()).arg("probe")).expect_code(1);
    std::fs::write(dir.path().join("output/backups/20261123T020000Z/complete.json"), "{}").unwrap();
    run(ops_gen(dir.path()).arg("probe")).expect_code(0);
}

#[test]
fn an_explicit_config_that_does_not_exist_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ops_gen(dir.path()).args(["--config", "missing.yml", "config", "check"]));
    out.expect_code(2);
    assert!(out.stderr.contains("cannot read config file missing.yml"), "{}", out.stderr);
    let out = run(ops_gen(dir.path()).env("OPS_GEN_CONFIG", "also-missing.yml").args(["config", "check"]));
    assert!(out.expect_code(2).stderr.contains("also-missing.yml"));
}

/// Every bad config: exit 2, one line naming the file, the key and the fix,
/// and nothing on stdout (nothing started).
#[test]
fn bad_configs_exit_2_with_file_key_and_fix() {
    let cases: &[(&str, &str)] = &[
        ("malformed_yaml", "targets:\n  db: [unclosed\n"),
        ("unknown_key", "targets:\n  db:\n    kind: postgres\n    urll: postgres://u@localhost/db\n"),
        ("unknown_top_level_key", "chekcs: {}\n"),
        ("unknown_kind", "checks:\n  web:\n    kind: htp\n    url: http://localhost/\n"),
        ("missing_kind", "checks:\n  web:\n    url: http://localhost/\n"),
        ("wrong_type", "checks:\n  web:\n    kind: http\n    url: http://localhost/\n    tls_verify: sometimes\n"),
        ("bad_duration", "checks:\n  web:\n    kind: http\n    url: http://localhost/\n    timeout: 5\n"),
        ("bad_url", "checks:\n  web:\n    kind: http\n    url: localhost:8080/health\n"),
        ("bad_postgres_url", "targets:\n  db:\n    kind: postgres\n    url: mysql://u@localhost/db\n"),
        ("unset_env", "targets:\n  db:\n    kind: postgres\n    url: ${OPS_GEN_TEST_UNSET_VARIABLE}\n"),
        (
            "two_unset_env",
            "targets:\n  db:\n    kind: postgres\n    url: postgres://u:${OPS_GEN_TEST_UNSET_ONE}@h/db\n  c:\n    kind: redis\n    url: redis://:${OPS_GEN_TEST_UNSET_TWO}@h\n",
        ),
        ("tab_indent", "targets:\n\tdb:\n    kind: postgres\n"),
        ("bad_indent", "targets:\n  db:\n    kind: postgres\n   url: postgres://u@h/db\n"),
        ("not_a_number", "backup:\n  retention:\n    keep_last: seven\n"),
        ("not_a_list", "profile:\n  services: prometheus\n"),
        ("bad_name", "checks:\n  Web Site:\n    kind: http\n    url: http://localhost/\n"),
        ("wrong_section", "targets:\n  web:\n    kind: http\n    url: http://localhost/\n"),
        ("missing_field", "checks:\n  dumps:\n    kind: file_freshness\n    path: /var/backups/*.dump\n"),
        ("bad_glob", "checks:\n  dumps:\n    kind: file_freshness\n    path: /var/backups/[*.dump\n    max_age: 26h\n"),
        (
            "flow_and_url",
            "checks:\n  flow:\n    kind: http\n    url: http://localhost/\n    steps:\n      - {name: a, url: 'http://localhost/'}\n",
        ),
        (
            "flow_uncaptured",
            "checks:\n  flow:\n    kind: http\n    steps:\n      - name: me\n        url: 'http://localhost/items/{{id}}'\n",
        ),
        ("bad_cron", "schedule:\n  jobs:\n    nightly:\n      cron: \"30 25 * * *\"\n      run: backup\n"),
        ("unknown_job_kind", "schedule:\n  jobs:\n    nightly:\n      cron: \"@daily\"\n      run: bakup\n"),
        (
            "unknown_job_key",
            "schedule:\n  jobs:\n    nightly:\n      cron: \"@daily\"\n      run: backup\n      jiter: 5m\n",
        ),
        ("unknown_time_zone", "schedule:\n  time_zone: Europe/Berln\n"),
        (
            "after_unknown_job",
            "schedule:\n  jobs:\n    nightly-backup:\n      cron: \"@daily\"\n      run: backup\n    verify:\n      after: nightly\n      run: verify\n",
        ),
        (
            "job_option_of_another_kind",
            "schedule:\n  jobs:\n    drill:\n      cron: \"@weekly\"\n      run: drill\n      only: [postgres]\n",
        ),
        ("job_without_a_time", "schedule:\n  jobs:\n    nightly:\n      run: backup\n"),
    ];
    for (name, text) in cases {
        let dir = config_dir(text);
        for args in [&["config", "check"][..], &["probe"], &["serve", "--listen", "127.0.0.1:0"]] {
            let out = run(ops_gen(dir.path()).args(args));
            out.expect_code(2);
            assert!(out.stdout.is_empty(), "{name}: {args:?} printed {}", out.stdout);
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{name}: one message, got:\n{}", out.stderr);
            assert!(lines[0].starts_with("error: invalid config ops-gen.yml"), "{name}: {}", lines[0]);
        }
        let out = run(ops_gen(dir.path()).args(["config", "check"]));
        insta::assert_snapshot!(format!("bad_config_{name}"), out.stderr);
    }
}

#[test]
fn probe_json_against_real_services() {
    let app_dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3_data = util::s3_data("probe");
    let (app, db_url, s3) = rt.block_on(async {
        let (db_url, _) = util::postgres_database().await;
        util::redis_conn().await;
        (servers::http_app().await, db_url, util::OwnS3::start(s3_data.path()).await)
    });
    let out = run(ops_gen(app_dir.path())
        .args([
            "--config",
            util::repo_root().join("examples/ops-gen.yml").to_str().unwrap(),
            "--json",
            "probe",
            "postgres",
            "redis",
            "s3",
            "app",
        ])
        .env("OPS_GEN_POSTGRES_URL", &db_url)
        .env("OPS_GEN_REDIS_URL", util::redis_url())
        .env("OPS_GEN_APP_URL", app.url("/ok"))
        .env("OPS_GEN_S3_ENDPOINT", s3.endpoint())
        .env("OPS_GEN_S3_BUCKET", "probe")
        .env("OPS_GEN_S3_ACCESS_KEY", util::s3().2)
        .env("OPS_GEN_S3_SECRET_KEY", util::s3().3));
    out.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["success"], true);
    let checks = json["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["postgres", "redis", "s3", "app"]);
    assert!(checks[0]["details"]["server_version"].as_str().unwrap().starts_with("15"));
    assert!(checks[1]["details"]["last_save_timestamp_seconds"].as_i64().unwrap() > 0);
    assert!(checks[2]["details"]["roundtrip_seconds"].as_f64().unwrap() > 0.0);
    assert!(checks.iter().all(|c| c["duration_seconds"].as_f64().unwrap() > 0.0 && c["finished_at"].is_string()));
    drop(rt);
}

#[test]
fn probe_exits_1_on_a_failing_check_and_2_on_an_unknown_name() {
    let dir = config_dir("checks:\n  web:\n    kind: http\n    url: http://127.0.0.1:9/\n    timeout: 1s\n");
    let out = run(ops_gen(dir.path()).args(["--json", "probe"]));
    out.expect_code(1);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["checks"][0]["failure"]["reason"], "connect");

    let out: Run = run(ops_gen(dir.path()).args(["probe", "wbe"]));
    out.expect_code(2);
    assert_eq!(out.stderr, "error: no target or check named `wbe` in ops-gen.yml; configured: web\n");
}

#[test]
fn serve_on_a_taken_port_is_a_runtime_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = run(ops_gen(dir.path()).args(["serve", "--listen", &format!("127.0.0.1:{port}")]));
    out.expect_code(3);
    assert!(out.stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{}", out.stderr);
}

#[test]
fn runbooks_are_listed_printed_and_suggested() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ops_gen(dir.path()).arg("runbook"));
    out.expect_code(0);
    for topic in [
        "check-failing",
        "restart-service",
        "warm-up",
        "backup-stale",
        "restore-from-backup",
        "disk-full",
        "full-reset",
    ] {
        assert!(out.stdout.contains(topic), "{topic} listed:\n{}", out.stdout);
    }
    let out = run(ops_gen(dir.path()).args(["runbook", "disk-full"]));
    let page = std::fs::read_to_string(util::repo_root().join("docs/runbooks/disk-full.md")).unwrap();
    assert_eq!(out.expect_code(0).stdout, page, "the binary prints the committed page");
    let out = run(ops_gen(dir.path()).args(["--json", "runbook", "warm-up"]));
    let json: serde_json::Value = serde_json::from_str(&out.expect_code(0).stdout).unwrap();
    assert_eq!(json["title"], "Warm up dependencies");
    let out = run(ops_gen(dir.path()).args(["runbook", "restor"]));
    out.expect_code(2);
    assert!(out.stderr.contains("did you mean `restore-from-backup`?"), "{}", out.stderr);
}

#[test]
fn init_writes_a_valid_config_from_the_compose_file_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(util::repo_root().join("tests/fixtures/compose-stack.yml"), dir.path().join("docker-compose.yml"))
        .unwrap();
    let out = run(ops_gen(dir.path()).arg("init"));
    out.expect_code(0);
    assert!(out.stdout.contains("minio") && out.stdout.contains("S3 store: add a kind: s3 target"), "{}", out.stdout);
    let config = std::fs::read_to_string(dir.path().join("ops-gen.yml")).unwrap();
    assert!(config.contains("url: postgres://shop:${DB_PASSWORD}@127.0.0.1:5433/shop"), "{config}");
    assert!(config.contains("url: redis://default:${CACHE_PASSWORD}@127.0.0.1:6380/0"), "{config}");
    assert!(config.contains("url: http://127.0.0.1:8080/"), "{config}");
    assert!(!config.contains("sup3r-literal-pw"), "a literal password in the compose file is never copied:\n{config}");
    insta::assert_snapshot!("init_config", config);

    // What init writes loads as it is, once its variables are set.
    let out = run(ops_gen(dir.path()).args(["config", "check"]).env("DB_PASSWORD", "x").env("CACHE_PASSWORD", "y"));
    out.expect_code(0);
    let out = run(ops_gen(dir.path()).args(["config", "check"]));
    let stderr = &out.expect_code(2).stderr;
    assert!(stderr.contains("2 environment variables are not set: `DB_PASSWORD`"), "{stderr}");
    assert!(stderr.contains("`CACHE_PASSWORD`"), "every unset variable at once: {stderr}");

    // It never overwrites without --force.
    let out = run(ops_gen(dir.path()).arg("init"));
    out.expect_code(2);
    assert!(out.stderr.contains("ops-gen.yml exists; pass --force"), "{}", out.stderr);
    run(ops_gen(dir.path()).args(["init", "--force"])).expect_code(0);
}

#[test]
fn init_without_or_with_a_broken_compose_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ops_gen(dir.path()).arg("init"));
    out.expect_code(2);
    assert!(out.stderr.contains("no compose file here"), "{}", out.stderr);
    std::fs::write(dir.path().join("compose.yaml"), "services:\n  web: [not, a, service]\n").unwrap();
    let out = run(ops_gen(dir.path()).arg("init"));
    out.expect_code(2);
    assert!(out.stderr.contains("compose.yaml is not a valid compose file"), "{}", out.stderr);
    assert!(!dir.path().join("ops-gen.yml").exists(), "nothing written");
}

/// Secrets that sit in a URL's path or user part (a Slack webhook, a
/// GitHub token as the user) never show in `config check`, nor do the
/// values of variables named like webhooks or DSNs.
#[test]
fn config_check_shows_no_secret_from_a_url_path_or_user() {
    let slack = "https://hooks.slack.com/services/T0AAAA/B0BBBB/slacksecret0123456789";
    let github = "https://ghp_0123456789abcdefghijABCDEFGHIJ012345@git.example.com/health";
    let dir = config_dir(&format!(
        "notify:\n  webhook: ${{OPS_GEN_NOTIFY_WEBHOOK}}\nchecks:\n  git:\n    kind: http\n    url: {github}\n  hook:\n    kind: http\n    url: https://chat.example.com/hooks/k3n8xq0w5mf9rj2yb7tdl4ahve\n"
    ));
    let out = run(ops_gen(dir.path()).env("OPS_GEN_NOTIFY_WEBHOOK", slack).args(["config", "check"]));
    out.expect_code(0);
    for secret in ["slacksecret0123456789", "B0BBBB", "ghp_0123456789", "k3n8xq0w5mf9rj2yb7tdl4ahve"] {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret), "`{secret}` shown:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("https://hooks.slack.com/services/***"), "{}", out.stdout);
    assert!(out.stdout.contains("https://***@git.example.com/health"), "{}", out.stdout);
}
