//! The client tools the stores run (`pg_dump`, `pg_restore`, `psql`,
//! `redis-cli`), as child processes: their output streamed into a set's file
//! while it is hashed, their version for the manifest, and the line of what
//! they printed that says what went wrong.
//!
//! Here rather than in a verb's file because several stores and the drill
//! containers ([`super::container`]) share them, whichever verb runs them.

use std::path::Path;
use std::process::Stdio;

use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::manifest::hex;

/// The version a tool prints (`pg_dump (PostgreSQL) 15.18 …` → `15.18`).
pub(super) async fn tool_version(program: &str, install: &str) -> Result<String, String> {
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run `{program}` ({e}); install it: {install}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|v| v.trim_end_matches(',').to_owned())
        .ok_or_else(|| format!("cannot read the version of `{program}` from {text:?}"))
}

/// Runs `command`, streaming its stdout into `path` while hashing it.
pub(super) async fn stream_to_file(
    mut command: tokio::process::Command,
    path: &Path,
    what: &str,
) -> Result<(u64, String), String> {
    // Messages name the file, not the temporary folder it is written in.
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut text).await;
        String::from_utf8_lossy(&text).into_owned()
    });
    let mut file = tokio::fs::File::from_std(
        crate::output::create_private(path).map_err(|e| format!("cannot create {name}: {e}"))?,
    );
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stdout.read(&mut buf).await.map_err(|e| format!("reading {what}: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).await.map_err(|e| format!("writing {name}: {e}"))?;
        size += n as u64;
    }
    file.sync_all().await.map_err(|e| format!("writing {name}: {e}"))?;
    let status = child.wait().await.map_err(|e| format!("{what}: {e}"))?;
    let errors = errors.await.unwrap_or_default();
    if !status.success() {
        let last = errors.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(format!("{what} failed ({status}): {}", last.trim()));
    }
    Ok((size, hex(&hasher.finalize())))
}

/// The line of a tool's output that says what went wrong: the first
/// naming an error (`pg_restore` ends with the statement that failed, after
/// the reason), else the last.
pub(super) fn last_line(stderr: &[u8]) -> String {
    error_line(&String::from_utf8_lossy(stderr))
}

/// [`last_line`] of text.
pub(super) fn error_line(text: &str) -> String {
    let line = text.lines().find(|l| l.to_ascii_lowercase().contains("error:"));
    let line = line.or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()));
    line.unwrap_or("no message").trim().to_owned()
}
