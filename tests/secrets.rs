//! Planted secrets never appear in output: not in `config check`, probe
//! tables or JSON, metrics, the landing page, logs at any level, or errors.

use std::process::Stdio;
use std::time::Duration;

use crate::util::{self, PLANTED, config_dir, ops_gen, run, servers};

const CONFIG: &str = "\
targets:
  db:
    kind: postgres
    url: ${OPS_GEN_POSTGRES_URL}
  cache:
    kind: redis
    url: ${OPS_GEN_REDIS_URL}
checks:
  web:
    kind: http
    url: ${OPS_GEN_APP_URL}?api_key=${OPS_GEN_APP_TOKEN}
    headers:
      Authorization: Bearer ${OPS_GEN_APP_TOKEN}
    body: 'password=${OPS_GEN_APP_TOKEN}'
  flow:
    kind: http
    steps:
      - name: log in
        url: ${OPS_GEN_APP_URL}
        method: POST
        body: 'password=${OPS_GEN_APP_TOKEN}'
        capture: {token: /token}
notify:
  webhook: http://127.0.0.1:9/hook?token=${OPS_GEN_APP_TOKEN}
";

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(PLANTED), "{what} leaks the planted secret:\n{text}");
}

fn planted_env(cmd: &mut std::process::Command, app: &servers::Server) {
    let mut pg = url::Url::parse(&util::postgres_url()).unwrap();
    pg.set_password(Some(PLANTED)).unwrap();
    let mut redis = url::Url::parse(&util::redis_url()).unwrap();
    redis.set_password(Some(PLANTED)).unwrap();
    cmd.env("OPS_GEN_POSTGRES_URL", pg.as_str())
        .env("OPS_GEN_REDIS_URL", redis.as_str())
        .env("OPS_GEN_APP_URL", format!("http://admin:{PLANTED}@{}/status/401", app.addr))
        .env("OPS_GEN_APP_TOKEN", PLANTED);
}

// Multi-threaded: the in-process HTTP app must answer while we block on the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_leak() {
    util::postgres_admin().await;
    util::redis_conn().await;
    let app = servers::http_app().await;
    let dir = config_dir(CONFIG);

    for args in [&["config", "check"][..], &["--json", "config", "check"]] {
        let mut cmd = ops_gen(dir.path());
        planted_env(&mut cmd, &app);
        let out = run(cmd.args(args));
        out.expect_code(0);
        assert_clean("config check", &out.all());
        assert!(out.stdout.contains("***"), "secrets are shown masked:\n{}", out.stdout);
    }

    for args in [&["-vv", "probe"][..], &["--json", "probe"]] {
        let mut cmd = ops_gen(dir.path());
        planted_env(&mut cmd, &app);
        let out = run(cmd.args(args).env("OPS_GEN_LOG", "trace"));
        out.expect_code(1);
        assert_clean("probe", &out.all());
        assert!(out.all().contains("auth"), "the wrong passwords fail as auth:\n{}", out.all());
        assert!(out.all().contains("401"), "the HTTP check ran against the app:\n{}", out.all());
    }

    // The server, with every crate logging at debug, scraped and then stopped.
    let mut cmd = ops_gen(dir.path());
    planted_env(&mut cmd, &app);
    let mut child = cmd
        .args(["-vv", "serve", "--listen", "127.0.0.1:0"])
        .env("OPS_GEN_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("serve starts");
        if let Some((_, rest)) = line.split_once("serving on http://") {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    let metrics = util::get_text(&format!("http://{addr}/metrics")).await;
    assert_clean("/metrics", &metrics);
    let page = util::get_text(&format!("http://{addr}/")).await;
    assert_clean("landing page", &page);
    assert!(page.contains("auth"), "{page}");
    let _ = child.kill();
    let _ = child.wait();
    let log: Vec<String> = rx.try_iter().collect();
    assert_clean("serve log", &log.join("\n"));
}

#[test]
fn invalid_urls_do_not_echo_their_password() {
    for url in [
        format!("postgres://u:{PLANTED}@db.local:notaport/app"),
        format!("postgres://u:{PLANTED}@/app"),
        format!("mysql://u:{PLANTED}@db.local/app"),
    ] {
        let dir = config_dir("targets:\n  db:\n    kind: postgres\n    url: ${DB_URL}\n");
        let out = run(ops_gen(dir.path()).env("DB_URL", &url).args(["config", "check"]));
        out.expect_code(2);
        assert_clean("config error", &out.all());
    }
    for url in [format!("redis://:{PLANTED}@cache:notaport"), format!("rediss://:{PLANTED}@cache/0")] {
        let dir = config_dir("targets:\n  cache:\n    kind: redis\n    url: ${CACHE_URL}\n");
        let out = run(ops_gen(dir.path()).env("CACHE_URL", &url).args(["config", "check"]));
        out.expect_code(2);
        assert_clean("config error", &out.all());
    }
}
