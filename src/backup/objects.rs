//! The objects of S3 targets ([`super::s3`]) in drills and restores: the
//! mirrored objects of a set put back into a bucket, and checked there.
//!
//! A set made with `mirror: true` holds every object of the bucket under
//! `s3/<target>/objects/<key>`, each with its size and sha256 in the manifest
//! (`source` is the key). A drill puts them into a scratch bucket on the same
//! server (created for the drill and removed after it, or a configured one,
//! where only a prefix of the drill's own is used) and reads them back; a
//! restore puts them into the target's bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use object_store::aws::AmazonS3;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt as _};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::manifest::TargetOutcome;
use crate::config::checks::s3::Spec;
use crate::errors::chain;
use crate::probe::s3::S3Probe;

/// Objects moved at once.
const PARALLEL: usize = 8;

/// One mirrored object of a set.
#[derive(Debug, Clone)]
pub struct Object {
    /// The object's key (as listed, percent-encoded where `object_store` encodes).
    pub key: String,
    pub file: PathBuf,
    pub sha256: String,
}

/// The mirrored objects of `outcome` in `set`, by key.
#[must_use]
pub fn mirrored(set: &Path, outcome: &TargetOutcome) -> Vec<Object> {
    let folder = format!("s3/{}/objects/", outcome.target);
    outcome
        .files
        .iter()
        .filter(|f| f.path.starts_with(&folder))
        .map(|f| Object { key: f.source.clone(), file: set.join(&f.path), sha256: f.sha256.clone() })
        .collect()
}

/// The keys and sizes of `s3/<target>/listing.jsonl`: what the bucket held.
pub fn listing(set: &Path, target: &str) -> Result<BTreeMap<String, u64>, String> {
    let path = set.join("s3").join(target).join("listing.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("{} is not JSON lines: {e}", path.display()))?;
            let key = value["key"].as_str().ok_or_else(|| format!("{}: a line without a key", path.display()))?;
            Ok((key.to_owned(), value["size"].as_u64().unwrap_or(0)))
        })
        .collect()
}

fn key(prefix: &str, key: &str) -> Result<Key, String> {
    Key::parse(format!("{prefix}{key}")).map_err(|e| format!("object key {key:?}: {e}"))
}

/// Puts every object into `store` under `prefix`, streamed from disk,
/// [`PARALLEL`] at a time (large objects go up in parts).
pub async fn upload(store: &AmazonS3, prefix: &str, objects: &[Object]) -> Result<(), String> {
    let store: Arc<dyn ObjectStore> = Arc::new(store.clone());
    futures::stream::iter(objects.iter().map(|object| {
        let store = Arc::clone(&store);
        async move {
            let location = key(prefix, &object.key)?;
            let failed = |e: &dyn std::error::Error| format!("putting {}: {}", object.key, chain(e));
            let mut file = tokio::fs::File::open(&object.file)
                .await
                .map_err(|e| format!("cannot read {}: {e}", object.file.display()))?;
            let mut writer = object_store::buffered::BufWriter::new(store, location);
            if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
                writer.abort().await.ok();
                return Err(failed(&e));
            }
            writer.shutdown().await.map_err(|e| failed(&e))
        }
    }))
    .buffer_unordered(PARALLEL)
    .try_collect::<()>()
    .await
}

/// Every object under `prefix`: key (without the prefix) and size.
pub async fn list(store: &AmazonS3, prefix: &str) -> Result<BTreeMap<String, u64>, String> {
    let root = if prefix.is_empty() { None } else { Some(key("", prefix.trim_end_matches('/'))?) };
    let mut stream = store.list(root.as_ref());
    let mut found = BTreeMap::new();
    while let Some(meta) = stream.next().await {
        let meta = meta.map_err(|e| format!("listing the bucket: {}", chain(&e)))?;
        let name = meta.location.as_ref();
        found.insert(name.strip_prefix(prefix).unwrap_or(name).to_owned(), meta.size);
    }
    Ok(found)
}

/// Reads every object back from `prefix` and compares its sha256 with the
/// set's; the keys that differ (or cannot be read).
pub async fn compare(store: &AmazonS3, prefix: &str, objects: &[Object]) -> Result<Vec<String>, String> {
    let results: Vec<Option<String>> = futures::stream::iter(objects.iter().map(|object| async move {
        let location = key(prefix, &object.key)?;
        let Ok(got) = store.get(&location).await else { return Ok(Some(object.key.clone())) };
        let mut body = got.into_stream();
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { return Ok(Some(object.key.clone())) };
            hasher.update(&chunk);
        }
        Ok::<_, String>((super::manifest::hex(&hasher.finalize()) != object.sha256).then(|| object.key.clone()))
    }))
    .buffer_unordered(PARALLEL)
    .try_collect()
    .await?;
    Ok(results.into_iter().flatten().collect())
}

/// Deletes every object under `prefix`; how many.
pub async fn delete_all(store: &AmazonS3, prefix: &str) -> Result<usize, String> {
    let keys: Vec<String> = list(store, prefix).await?.into_keys().collect();
    futures::stream::iter(keys.iter().map(|k| async move {
        let location = key(prefix, k)?;
        store.delete(&location).await.map_err(|e| format!("deleting {k}: {}", chain(&e)))
    }))
    .buffer_unordered(PARALLEL)
    .try_collect::<()>()
    .await?;
    Ok(keys.len())
}

/// Where a drill puts a target's objects: a bucket made for it, or a prefix
/// of its own in a configured scratch bucket.
#[derive(Debug)]
pub struct Scratch {
    pub store: AmazonS3,
    pub prefix: String,
    /// Named when ops-gen made the bucket (and removes it afterwards).
    created: Option<String>,
    spec: Spec,
}

impl Scratch {
    /// A scratch place on the server of `spec`: `configured` (which must
    /// exist and not be the target's own bucket) or a new bucket.
    pub async fn open(spec: &Spec, configured: Option<&str>, tag: &str) -> Result<Self, String> {
        let mut scratch = spec.clone();
        let (prefix, created) = if let Some(bucket) = configured {
            scratch.bucket = bucket.to_owned();
            (format!("ops-gen-drill-{tag}/"), None)
        } else {
            scratch.bucket = format!("ops-gen-drill-{tag}");
            bucket_request(&scratch, BucketAction::Create).await?;
            (String::new(), Some(scratch.bucket.clone()))
        };
        let store = S3Probe::new(&scratch)?.store().clone();
        Ok(Self { store, prefix, created, spec: scratch })
    }

    /// The bucket objects went into.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.spec.bucket
    }

    /// Deletes the drill's objects, and the bucket when ops-gen made it.
    pub async fn remove(self) -> Result<(), String> {
        delete_all(&self.store, &self.prefix).await?;
        if self.created.is_some() {
            bucket_request(&self.spec, BucketAction::Delete).await?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum BucketAction {
    Create,
    Delete,
}

/// `CreateBucket` or `DeleteBucket` (`object_store` has neither), signed with
/// `SigV4` by `rusty_s3` and sent with reqwest.
async fn bucket_request(spec: &Spec, action: BucketAction) -> Result<(), String> {
    use rusty_s3::S3Action as _;

    crate::tls::init();
    let endpoint = spec.endpoint.get().as_url().ok_or("the endpoint cannot hold {{placeholders}}")?;
    let style = if spec.path_style { rusty_s3::UrlStyle::Path } else { rusty_s3::UrlStyle::VirtualHost };
    let bucket = rusty_s3::Bucket::new(endpoint, style, spec.bucket.clone(), spec.region.clone())
        .map_err(|e| format!("bucket {}: {e}", spec.bucket))?;
    let credentials = rusty_s3::Credentials::new(spec.access_key.expose(), spec.secret_key.expose());
    let client = crate::tls::http_client(|| reqwest::Client::builder().timeout(Duration::from_secs(30)))
        .map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
    let expires = Duration::from_secs(300);
    let (what, request) = match action {
        BucketAction::Create => {
            let create = bucket.create_bucket(&credentials);
            ("create", client.put(create.sign(expires)).body(create.body()))
        }
        BucketAction::Delete => ("delete", client.delete(bucket.delete_bucket(&credentials).sign(expires))),
    };
    let response = request.send().await.map_err(|e| format!("cannot {what} bucket {}: {}", spec.bucket, chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let code = body.split_once("<Code>").and_then(|(_, rest)| rest.split_once("</Code>")).map_or("", |(c, _)| c);
    let hint = match (action, status.as_u16()) {
        (BucketAction::Create, 403) => {
            "; the access key may not create buckets: set backup.targets.<name>.drill.bucket to an existing scratch bucket"
        }
        _ => "",
    };
    Err(format!("cannot {what} bucket {}: HTTP {status} {code}{hint}", spec.bucket))
}
