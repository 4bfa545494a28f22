//! Each check kind against the real thing, and against targets that refuse,
//! reset, hang or answer garbage: the right `reason`, never a panic.

use std::time::{Duration, Instant};

use ops_gen::config::Config;
use ops_gen::probe::postgres::ServerInfo;
use ops_gen::probe::redis::Persistence;
use ops_gen::probe::{Outcome, Probe, Reason};

use crate::util::{self, servers};

/// Builds the single check of `yaml` (one `targets` or `checks` entry).
fn probe(yaml: &str) -> Probe {
    let config = Config::parse(yaml, "test.yml").unwrap_or_else(|e| panic!("{e}"));
    let (name, spec) = config.probes().next().expect("one check");
    Probe::build(name, spec).unwrap()
}

async fn run_within(p: &Probe, limit: Duration) -> Outcome {
    tokio::time::timeout(limit, p.run()).await.unwrap_or_else(|_| Outcome::failed(Reason::Timeout, "test limit"))
}

#[track_caller]
fn assert_reason(outcome: &Outcome, reason: Reason) {
    let failure =
        outcome.failure.as_ref().unwrap_or_else(|| panic!("expected a {reason} failure, got success: {outcome:?}"));
    assert_eq!(failure.reason, reason, "{}", failure.message);
}

fn pg(url: &str) -> Probe {
    probe(&format!("targets:\n  db:\n    kind: postgres\n    url: {url}\n"))
}

fn redis(url: &str) -> Probe {
    probe(&format!("targets:\n  cache:\n    kind: redis\n    url: {url}\n"))
}

fn http(extra: &str) -> Probe {
    probe(&format!("checks:\n  web:\n    kind: http\n{extra}"))
}

#[tokio::test]
async fn postgres_succeeds_reports_version_and_reuses_its_connection() {
    let (url, admin) = util::postgres_database().await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let p = pg(&url);
    for _ in 0..3 {
        let out = p.run().await;
        assert!(out.is_success(), "{out:?}");
        let Some(info) = out.found::<ServerInfo>() else { panic!("no server info: {out:?}") };
        assert!(info.server_version.starts_with(|c: char| c.is_ascii_digit()), "{}", info.server_version);
    }
    let row = admin
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ops-gen'", &[&db])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1, "three runs share one connection");

    // Kill our backend: the next run reconnects instead of failing forever.
    admin
        .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ops-gen'", &[&db])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut recovered = false;
    for _ in 0..2 {
        recovered = p.run().await.is_success();
        if recovered {
            break;
        }
    }
    assert!(recovered, "the check rebuilds its connection after an error");
}

#[tokio::test]
async fn postgres_failures_have_the_right_reason() {
    util::postgres_admin().await;
    let mut wrong = url::Url::parse(&util::postgres_url()).unwrap();
    wrong.set_password(Some("wrong-password")).unwrap();
    assert_reason(&pg(wrong.as_str()).run().await, Reason::Auth);

    assert_reason(&pg(&util::postgres_url_for("no_such_database_here")).run().await, Reason::Connect);

    let refused = servers::refused().await;
    assert_reason(&pg(&format!("postgres://u@{refused}/db")).run().await, Reason::Connect);

    let reset = servers::resetting().await;
    assert_reason(&pg(&format!("postgres://u@{}/db", reset.addr)).run().await, Reason::Connect);

    let garbage = servers::garbage().await;
    let out =
        run_within(&pg(&format!("postgres://u@{}/db?sslmode=disable", garbage.addr)), Duration::from_secs(5)).await;
    let reason = out.failure.as_ref().map(|f| f.reason);
    assert!(matches!(reason, Some(Reason::Protocol | Reason::Connect)), "{out:?}");
}

#[tokio::test]
async fn redis_succeeds_with_live_persistence() {
    let mut conn = util::redis_conn().await;
    let p = redis(&util::redis_url());
    let first = p.run().await;
    let Some(before) = first.found::<Persistence>().cloned() else { panic!("no persistence: {first:?}") };
    let key = util::unique("opsgen_test");
    let _: () = redis::cmd("SET").arg(&key).arg("1").query_async(&mut conn).await.unwrap();
    let second = p.run().await;
    let Some(after) = second.found::<Persistence>().cloned() else { panic!("no persistence") };
    assert!(
        after.changes_since_last_save > before.changes_since_last_save
            || after.last_save_timestamp_seconds > before.last_save_timestamp_seconds
    );
    assert!(after.last_save_timestamp_seconds > 1_600_000_000);
    let _: () = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
}

#[tokio::test]
async fn redis_failures_have_the_right_reason() {
    util::redis_conn().await;
    let mut wrong = url::Url::parse(&util::redis_url()).unwrap();
    wrong.set_password(Some("wrong-password")).unwrap();
    assert_reason(&redis(wrong.as_str()).run().await, Reason::Auth);

    let mut anonymous = url::Url::parse(&util::redis_url()).unwrap();
    anonymous.set_password(None).unwrap();
    anonymous.set_username("").unwrap();
    assert_reason(&redis(anonymous.as_str()).run().await, Reason::Auth);

    assert_reason(&redis(&format!("redis://{}", servers::refused().await)).run().await, Reason::Connect);
    let reset = servers::resetting().await;
    assert_reason(&redis(&format!("redis://{}", reset.addr)).run().await, Reason::Connect);
    let garbage = servers::garbage().await;
    let out = run_within(&redis(&format!("redis://{}", garbage.addr)), Duration::from_secs(5)).await;
    assert!(matches!(out.failure.map(|f| f.reason), Some(Reason::Protocol | Reason::Connect)));
}

#[tokio::test]
async fn http_checks_status_body_and_json_pointer() {
    let app = servers::http_app().await;
    assert!(http(&format!("    url: {}\n", app.url("/ok"))).run().await.is_success());
    assert!(http(&format!("    url: {}\n    body_contains: good\n", app.url("/ok"))).run().await.is_success());
    assert!(http(&format!("    url: {}\n    expect_status: 418\n", app.url("/status/418"))).run().await.is_success());
    let json = format!("    url: {}\n    json: {{pointer: /checks/0/up, equals: true}}\n", app.url("/json"));
    assert!(http(&json).run().await.is_success());

    assert_reason(&http(&format!("    url: {}\n", app.url("/status/503"))).run().await, Reason::Status);
    assert_reason(
        &http(&format!("    url: {}\n    expect_status: [200]\n", app.url("/status/204"))).run().await,
        Reason::Status,
    );
    assert_reason(&http(&format!("    url: {}\n    body_contains: nope\n", app.url("/ok"))).run().await, Reason::Body);
    let wrong = format!("    url: {}\n    json: {{pointer: /status, equals: degraded}}\n", app.url("/json"));
    let out = http(&wrong).run().await;
    assert_reason(&out, Reason::Body);
    assert!(out.failure.unwrap().message.contains(r#"/status is "ok", expected "degraded""#));
}

#[tokio::test]
async fn http_failures_have_the_right_reason() {
    let refused = servers::refused().await;
    assert_reason(&http(&format!("    url: http://{refused}/\n")).run().await, Reason::Connect);

    let reset = servers::resetting().await;
    assert_reason(&http(&format!("    url: {}\n", reset.url("/"))).run().await, Reason::Connect);

    let garbage = servers::garbage().await;
    assert_reason(&http(&format!("    url: {}\n", garbage.url("/"))).run().await, Reason::Protocol);

    // TLS to a server that does not speak it.
    let app = servers::http_app().await;
    assert_reason(&http(&format!("    url: https://{}/ok\n", app.addr)).run().await, Reason::Tls);
}

#[tokio::test]
async fn hung_targets_time_out_within_the_check_limit() {
    let hung = servers::hung().await;
    let yaml = format!(
        "targets:\n  db:\n    kind: postgres\n    url: postgres://u@{a}/db\n    timeout: 300ms\n  cache:\n    kind: redis\n    url: redis://{a}\n    timeout: 300ms\nchecks:\n  web:\n    kind: http\n    url: http://{a}/\n    timeout: 300ms\n",
        a = hung.addr
    );
    let config = Config::parse(&yaml, "test.yml").unwrap();
    let ledger = std::sync::Arc::new(ops_gen::probe::runner::FailureLedger::default());
    let runner = ops_gen::probe::runner::Runner::new(&config, &ledger, None).unwrap();
    let start = Instant::now();
    let snapshot =
        runner.collect(Instant::now() + Duration::from_secs(5), ops_gen::probe::runner::Mode::Everything).await;
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "three hung checks took {took:?}");
    for (check, result) in &snapshot.entries {
        let failure =
            result.as_ref().unwrap().outcome.failure.as_ref().unwrap_or_else(|| panic!("{} succeeded", check.name));
        assert_eq!(failure.reason, Reason::Timeout, "{}: {}", check.name, failure.message);
    }
}

#[tokio::test]
async fn postgres_over_tls_encrypts_and_verifies_on_request() {
    let (url, admin) = util::postgres_database().await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let encrypt_only = probe(&format!("targets:\n  db:\n    kind: postgres\n    url: {url}?sslmode=require\n"));
    let out = encrypt_only.run().await;
    assert!(out.is_success(), "{out:?}");
    let row = admin
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.application_name = 'ops-gen'",
            &[&db],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<bool>>(0), Some(true), "the check's connection is encrypted");

    // Verification against the system roots refuses the self-signed certificate.
    let verify =
        probe(&format!("targets:\n  db:\n    kind: postgres\n    url: {url}?sslmode=require\n    tls_verify: true\n"));
    assert_reason(&verify.run().await, Reason::Tls);
}

#[tokio::test]
async fn https_checks_verify_certificates_unless_told_not_to() {
    let server = util::https_server().await;
    let out = http(&format!("    url: {}\n    tls_verify: false\n", server.url)).run().await;
    assert!(out.is_success(), "{out:?}");
    let out = http(&format!("    url: {}\n", server.url)).run().await;
    assert_reason(&out, Reason::Tls);
    assert!(out.failure.unwrap().message.to_lowercase().contains("certificate"));
}

fn login_flow(base: &str, password: &str, with_token: bool) -> Probe {
    let auth = if with_token { "\n        headers: {Authorization: 'Bearer {{token}}'}" } else { "" };
    http(&format!(
        "    steps:
      - name: log in
        url: {base}/login
        method: POST
        headers: {{Content-Type: application/json}}
        body: '{{\"user\":\"smoke\",\"password\":\"{password}\"}}'
        capture: {{token: /token, asset: /asset}}
      - name: me
        url: {base}/me{auth}
        json: {{pointer: /name, equals: smoke}}
      - name: asset
        url: '{base}{{{{asset}}}}'
        body_contains: console.log
"
    ))
}

#[tokio::test]
async fn http_flows_share_cookies_and_captured_values_and_name_the_failing_step() {
    let app = servers::http_app().await;
    let base = format!("http://{}", app.addr);
    let out = login_flow(&base, "pw", true).run().await;
    assert!(out.is_success(), "{out:?}");

    // Runs do not share cookies: a second run logs in again and still passes.
    assert!(login_flow(&base, "pw", true).run().await.is_success());

    let out = login_flow(&base, "wrong", true).run().await;
    assert_reason(&out, Reason::Status);
    assert_eq!(out.failure.unwrap().message, "step 1 `log in`: answered 401 Unauthorized, expected a 2xx status");

    let out = login_flow(&base, "pw", false).run().await;
    assert_reason(&out, Reason::Status);
    assert!(out.failure.unwrap().message.starts_with("step 2 `me`: answered 401"));
}
