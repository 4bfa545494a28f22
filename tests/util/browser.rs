//! A real headless Chromium (Debian's `chromium`), driven over the Chrome
//! `DevTools` protocol on a pipe (`--remote-debugging-pipe`: NUL-terminated
//! JSON on file descriptors 3 and 4), so no WebSocket client is needed. One
//! browser per test; its whole process group is killed when dropped.

use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

type Pending = Arc<Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Value>>>>;

pub struct Browser {
    child: Child,
    input: Mutex<ChildStdin>,
    pending: Pending,
    next: AtomicU64,
    /// The profile and Chromium's own log (`chromium.log`).
    pub dir: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium (the flags TEST-INFRA.md lists for a closed network).
    pub fn start() -> Self {
        let chromium = super::require_tool("chromium", "chromium");
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("chromium.log")).unwrap();
        // The shell hands our stdin and stdout to Chromium as fds 3 and 4,
        // then execs it: the pid stays the process group's leader.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--mute-audio",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let pending: Pending = Arc::default();
        let replies = Arc::clone(&pending);
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                message.pop_if(|b| *b == 0);
                if let Ok(value) = serde_json::from_slice::<Value>(&message)
                    && let Some(id) = value["id"].as_u64()
                    && let Some(reply) = replies.lock().unwrap().remove(&id)
                {
                    let _ = reply.send(value);
                }
                message.clear();
            }
            // Chromium is gone: every waiting command fails now.
            replies.lock().unwrap().clear();
        });
        let input = Mutex::new(child.stdin.take().unwrap());
        Self { child, input, pending, next: AtomicU64::new(1), dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromium.log")).unwrap_or_default()
    }

    /// Sends one command (to a page when `session` is set); its `result`.
    pub async fn send(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = session.into();
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        let written = {
            let mut input = self.input.lock().unwrap();
            input.write_all(&bytes).and_then(|()| input.flush())
        };
        assert!(written.is_ok(), "chromium is not running; its log:\n{}", self.log());
        let reply = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap_or_else(|_| panic!("chromium did not answer {method} within 30 s"))
            .unwrap_or_else(|_| panic!("chromium exited during {method}; its log:\n{}", self.log()));
        assert!(reply.get("error").is_none(), "{method}: {}", reply["error"]);
        reply["result"].clone()
    }

    /// A new tab showing `url`, loaded.
    pub async fn open(&self, url: &str) -> Page<'_> {
        let target = self.send(None, "Target.createTarget", json!({ "url": "about:blank" })).await;
        let attached =
            self.send(None, "Target.attachToTarget", json!({ "targetId": target["targetId"], "flatten": true })).await;
        let page = Page { browser: self, session: attached["sessionId"].as_str().unwrap().to_owned() };
        page.send("Page.enable", json!({})).await;
        let navigated = page.send("Page.navigate", json!({ "url": url })).await;
        assert!(navigated.get("errorText").is_none(), "cannot load {url}: {}", navigated["errorText"]);
        page.wait_for(&format!("{url} to load"), "document.readyState === 'complete'", Duration::from_secs(20)).await;
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

/// One tab.
pub struct Page<'a> {
    browser: &'a Browser,
    session: String,
}

impl Page<'_> {
    pub async fn send(&self, method: &str, params: Value) -> Value {
        self.browser.send(Some(&self.session), method, params).await
    }

    /// The value of a JavaScript expression (promises awaited); a thrown
    /// exception fails the test.
    pub async fn eval(&self, expression: &str) -> Value {
        let result = self
            .send("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }))
            .await;
        assert!(result.get("exceptionDetails").is_none(), "`{expression}` threw: {}", result["exceptionDetails"]);
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    pub async fn wait_for(&self, what: &str, expression: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.eval(expression).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body = self.eval("document.body ? document.body.innerText : ''").await;
        panic!("timed out after {timeout:?} waiting for {what} (`{expression}`); the page reads:\n{body}");
    }

    /// Emulates a screen of `width`×`height` CSS pixels (`mobile`: a phone).
    pub async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        let metrics = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile });
        self.send("Emulation.setDeviceMetricsOverride", metrics).await;
    }

    /// A PNG of the page as shown, written to `path`; its bytes.
    pub async fn screenshot(&self, path: &Path) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self.send("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true })).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &png).unwrap();
        png
    }
}
