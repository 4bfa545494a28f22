//! S3 targets: the dump, the drill and the restore side by side.
//!
//! - `dump`: an integrity record of the bucket (a round trip through it) in
//!   `s3/<target>/integrity.json`, its listing in
//!   `s3/<target>/listing.jsonl`, and with `mirror` every object under
//!   `s3/<target>/objects/<key>`, each file hashed into the manifest.
//! - `drill`, of a mirrored set only: the objects put into a scratch bucket
//!   on the target's server, checked there against the listing and the
//!   set's hashes, and removed.
//! - `restore`, of a mirrored set only: every object put back into the
//!   target's bucket; objects made since are kept.
//!
//! Putting a set's objects into a bucket and reading them back there, and
//! the drill's scratch bucket, are `objects.rs`'s.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::Job;
use super::drill::{CheckResult, unique_suffix};
use super::manifest::{FileEntry, TargetOutcome, hash_file, hex, write_synced};
use super::objects;
use super::run::relative;
use crate::config::backup::Sanity;

/// An S3 bucket: its listing, an integrity record (a round trip), and with
/// `mirror` a copy of every object, each file hashed into the manifest.
pub(super) async fn dump(
    job: &Job,
    spec: &crate::config::checks::s3::Spec,
    set: &Path,
) -> Result<Vec<FileEntry>, String> {
    use futures::StreamExt as _;
    use object_store::{ObjectStore as _, ObjectStoreExt as _};

    let probe = crate::probe::s3::S3Probe::new(spec)?;
    let folder = set.join("s3").join(&job.target);
    crate::output::create_private_dir_all(&folder).map_err(|e| format!("cannot create the S3 folder: {e}"))?;
    let entry = |path: &Path, tool: &str, source: &str, seconds: f64| -> Result<FileEntry, String> {
        let (size, sha256) = hash_file(path).map_err(|e| format!("cannot read {}: {e}", relative(set, path)))?;
        Ok(FileEntry {
            path: relative(set, path),
            size,
            sha256,
            tool: tool.to_owned(),
            tool_version: crate::build_info::VERSION.to_owned(),
            source: source.to_owned(),
            duration_seconds: seconds,
        })
    };
    let mut files = Vec::new();

    let begun = Instant::now();
    let integrity = probe.roundtrip().await;
    let record = match &integrity {
        Ok(()) => {
            serde_json::json!({"bucket": spec.bucket, "roundtrip": "ok", "seconds": begun.elapsed().as_secs_f64()})
        }
        Err(f) => {
            serde_json::json!({"bucket": spec.bucket, "roundtrip": "failed", "reason": f.reason, "message": f.message})
        }
    };
    let path = folder.join("integrity.json");
    write_synced(&path, record.to_string().as_bytes())
        .map_err(|e| format!("cannot write the integrity record: {e}"))?;
    files.push(entry(&path, "ops-gen", "integrity", begun.elapsed().as_secs_f64())?);
    if let Err(f) = integrity {
        return Err(format!("the bucket failed its round trip ({}: {})", f.reason, f.message));
    }

    let begun = Instant::now();
    let mut listing = String::new();
    let mut keys = Vec::new();
    let mut stream = probe.store().list(None);
    while let Some(meta) = stream.next().await {
        let meta = meta.map_err(|e| format!("listing the bucket: {}", crate::errors::chain(&e)))?;
        let line = serde_json::json!({
            "key": meta.location.as_ref(),
            "size": meta.size,
            "etag": meta.e_tag,
            "last_modified": meta.last_modified.to_rfc3339(),
        });
        listing.push_str(&line.to_string());
        listing.push('\n');
        keys.push(meta.location);
    }
    let path = folder.join("listing.jsonl");
    write_synced(&path, listing.as_bytes()).map_err(|e| format!("cannot write the listing: {e}"))?;
    files.push(entry(&path, "ops-gen", "listing", begun.elapsed().as_secs_f64())?);

    if job.mirror {
        for key in keys {
            // Keys become paths: no empty, `.` or `..` parts may escape the set.
            let parts: Vec<&str> = key.as_ref().split('/').collect();
            if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
                return Err(format!("object key {:?} cannot be mirrored to a file safely", key.as_ref()));
            }
            let begun = Instant::now();
            let path = parts.iter().fold(folder.join("objects"), |p, part| p.join(part));
            if let Some(parent) = path.parent() {
                crate::output::create_private_dir_all(parent)
                    .map_err(|e| format!("cannot create a mirror folder: {e}"))?;
            }
            // Streamed to disk while hashed: objects can be larger than memory.
            let mirrored =
                |e: &dyn std::error::Error| format!("mirroring {}: {}", key.as_ref(), crate::errors::chain(e));
            let mut body = probe.store().get(&key).await.map_err(|e| mirrored(&e))?.into_stream();
            let mut file = tokio::fs::File::from_std(
                crate::output::create_private(&path).map_err(|e| format!("cannot write a mirrored object: {e}"))?,
            );
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| mirrored(&e))?;
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| format!("cannot write a mirrored object: {e}"))?;
                size += chunk.len() as u64;
            }
            file.sync_all().await.map_err(|e| format!("cannot write a mirrored object: {e}"))?;
            files.push(FileEntry {
                path: relative(set, &path),
                size,
                sha256: hex(&hasher.finalize()),
                tool: "ops-gen".to_owned(),
                tool_version: crate::build_info::VERSION.to_owned(),
                source: key.as_ref().to_owned(),
                duration_seconds: begun.elapsed().as_secs_f64(),
            });
        }
    }
    Ok(files)
}

/// Puts a mirrored set's objects into a scratch bucket on the target's
/// server, checks every object came back whole, and removes the bucket.
pub(super) async fn drill(
    set: &Path,
    outcome: &TargetOutcome,
    spec: Option<&crate::config::checks::s3::Spec>,
    sanity: &Sanity,
) -> Result<(f64, Vec<CheckResult>), String> {
    let spec = spec.ok_or("the target is no longer in the config, so there is no server to restore into")?;
    let objects = objects::mirrored(set, outcome);
    let expected = objects::listing(set, &outcome.target)?;
    let started = Instant::now();
    let scratch = objects::Scratch::open(spec, sanity.bucket.as_deref(), &scratch_tag(set)).await?;
    let result = async {
        objects::upload(&scratch.store, &scratch.prefix, &objects).await?;
        let restore_seconds = started.elapsed().as_secs_f64();
        let found = objects::list(&scratch.store, &scratch.prefix).await?;
        let mut checks = Vec::new();
        let missing: Vec<&str> =
            expected.iter().filter(|(key, size)| found.get(*key) != Some(size)).map(|(key, _)| key.as_str()).collect();
        checks.push(CheckResult {
            check: format!("every object back in {}", scratch.bucket()),
            ok: missing.is_empty(),
            detail: if missing.is_empty() {
                format!("{} object(s), sizes as listed at backup time", expected.len())
            } else {
                format!("{} of {} missing or of another size: {}", missing.len(), expected.len(), some(&missing))
            },
        });
        let differ = objects::compare(&scratch.store, &scratch.prefix, &objects).await?;
        checks.push(CheckResult {
            check: "content".to_owned(),
            ok: differ.is_empty(),
            detail: if differ.is_empty() {
                format!("{} object(s) read back with the sha256 of the set", objects.len())
            } else {
                format!("{} object(s) differ from the set: {}", differ.len(), some(&differ))
            },
        });
        if let Some(min) = sanity.min_objects {
            checks.push(CheckResult {
                check: format!("at least {min} objects"),
                ok: found.len() as u64 >= min,
                detail: format!("{} objects", found.len()),
            });
        }
        for key in &sanity.keys {
            let exists = found.contains_key(key);
            checks.push(CheckResult {
                check: format!("object {key}"),
                ok: exists,
                detail: if exists { "exists".to_owned() } else { "missing".to_owned() },
            });
        }
        Ok::<_, String>((restore_seconds, checks))
    }
    .await;
    let bucket = scratch.bucket().to_owned();
    let cleanup = scratch.remove().await;
    match (result, cleanup) {
        (Ok((seconds, mut checks)), Err(e)) => {
            checks.push(CheckResult { check: format!("{bucket} cleaned up"), ok: false, detail: e });
            Ok((seconds, checks))
        }
        (Err(e), Err(cleanup)) => Err(format!("{e} (and the scratch bucket was not cleaned up: {cleanup})")),
        (result, Ok(())) => result,
    }
}

/// The first few of `items`, for a one-line detail.
fn some<S: AsRef<str>>(items: &[S]) -> String {
    const SHOWN: usize = 5;
    let mut text = items.iter().take(SHOWN).map(AsRef::as_ref).collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        let _ = write!(text, " and {} more", items.len() - SHOWN);
    }
    text
}

/// A name part for the scratch bucket (3 to 63 lowercase letters, digits and
/// hyphens in all): the set, and a few hex digits so concurrent drills of
/// the same set do not meet.
fn scratch_tag(set: &Path) -> String {
    let name: String = set
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("set")
        .chars()
        .take(30)
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    format!("{name}-{}", unique_suffix())
}

/// Puts every object of the set back into the bucket, overwriting objects of
/// the same key. Objects made after the set are left in place (and counted):
/// deleting them is not a restore's call to make.
pub(super) async fn restore(
    spec: &crate::config::checks::s3::Spec,
    set: &Path,
    outcome: &TargetOutcome,
) -> Result<String, String> {
    let objects = objects::mirrored(set, outcome);
    let store = crate::probe::s3::S3Probe::new(spec)?;
    objects::upload(store.store(), "", &objects).await?;
    let keys: std::collections::BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let found = objects::list(store.store(), "").await?;
    let newer = found.keys().filter(|k| !keys.contains(k.as_str()) && !k.starts_with(&spec.prefix)).count();
    let mut detail = format!("{} object(s) restored into {}", objects.len(), spec.bucket);
    if newer > 0 {
        let _ = write!(detail, "; {newer} object(s) not in the set were left in place");
    }
    Ok(detail)
}
