//! Notifications from `serve`: a real webhook endpoint and a real command
//! hear about checks going red and green again, debounced per check.

use std::time::Duration;

use crate::util::{self, TestExporter, servers};

fn states(received: &std::sync::Mutex<Vec<serde_json::Value>>) -> Vec<String> {
    received.lock().unwrap().iter().map(|p| p["state"].as_str().unwrap_or("?").to_owned()).collect()
}

#[tokio::test]
async fn red_and_green_reach_the_webhook_and_the_command() {
    let (hook, received) = servers::webhook().await;
    let dumps = tempfile::tempdir().unwrap();
    let log = dumps.path().join("notified.log");
    let exporter = TestExporter::start(&format!(
        "checks:\n  dumps:\n    kind: file_freshness\n    path: {dir}/*.dump\n    max_age: 1h\n    interval: 100ms\n\
         notify:\n  webhook: {hook}\n  command: [sh, -c, 'echo \"$OPS_GEN_CHECK $OPS_GEN_STATE $OPS_GEN_REASON\" >> {log}']\n  debounce: 0s\n",
        dir = dumps.path().display(),
        hook = hook.url("/hook"),
        log = log.display(),
    ))
    .await;
    util::eventually("a red notification", Duration::from_secs(5), async || states(&received) == ["red"]).await;
    let red = received.lock().unwrap()[0].clone();
    assert_eq!(
        (red["check"].as_str(), red["kind"].as_str(), red["reason"].as_str()),
        (Some("dumps"), Some("file_freshness"), Some("missing"))
    );
    assert!(red["summary"].as_str().unwrap().starts_with("dumps (file_freshness) is red: missing: no file matches"));
    assert!(red["source"].as_str().unwrap().starts_with("ops-gen@"));
    assert!(red["at"].as_str().unwrap().ends_with('Z'));

    std::fs::write(dumps.path().join("a.dump"), b"data").unwrap();
    util::eventually("a green notification", Duration::from_secs(5), async || states(&received) == ["red", "green"])
        .await;
    util::eventually("the command to run twice", Duration::from_secs(5), async || {
        std::fs::read_to_string(&log).unwrap_or_default() == "dumps red missing\ndumps green \n"
    })
    .await;
    // Still green: nothing more is sent.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(states(&received), ["red", "green"]);
    drop(exporter);
}

#[tokio::test]
async fn flapping_within_the_debounce_window_sends_the_state_at_its_end() {
    let (hook, received) = servers::webhook().await;
    let dumps = tempfile::tempdir().unwrap();
    let dump = dumps.path().join("a.dump");
    let _exporter = TestExporter::start(&format!(
        "checks:\n  dumps:\n    kind: file_freshness\n    path: {}/*.dump\n    max_age: 1h\n    interval: 50ms\nnotify:\n  webhook: {}\n  debounce: 1500ms\n",
        dumps.path().display(),
        hook.url("/hook"),
    ))
    .await;
    util::eventually("the first red", Duration::from_secs(5), async || states(&received) == ["red"]).await;
    // Flap for well under the window, ending green.
    for _ in 0..4 {
        std::fs::write(&dump, b"data").unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        std::fs::remove_file(&dump).unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    std::fs::write(&dump, b"data").unwrap();
    assert_eq!(states(&received), ["red"], "changes inside the window wait for its end");
    util::eventually("one green at the end of the window", Duration::from_secs(5), async || {
        states(&received) == ["red", "green"]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(states(&received), ["red", "green"]);
}
