//! `s3`: does the object store really store? A round trip on any
//! S3-compatible server (MinIO, Garage, SeaweedFS, AWS): put a small object
//! under a prefix, read it back, compare its sha256, delete it. And, less
//! often, a listing of the bucket for its object count and bytes.
//!
//! It writes, so it runs on its own schedule (`interval`, default 5m), never
//! on scrape; the listing runs at most every `listing_interval` (default 1h),
//! paged and cut off at the check's time limit. Reachability endpoints such
//! as MinIO's `/minio/health/live` say nothing about data: this does.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use futures::future::BoxFuture;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::{Failure, Outcome, Reason};
use crate::config::HumanDuration;
use crate::config::checks::s3::Spec;
use crate::series;

pub const REASONS: &[Reason] = &[
    Reason::Timeout,
    Reason::Connect,
    Reason::Tls,
    Reason::Auth,
    Reason::Missing,
    Reason::Checksum,
    Reason::Protocol,
    Reason::Internal,
];

/// What the check reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    pub bucket: String,
    pub roundtrip_seconds: f64,
    /// From the last listing, if one finished.
    pub objects: Option<u64>,
    pub bytes: Option<u64>,
}

pub struct S3Probe {
    store: AmazonS3,
    spec: Spec,
    counter: AtomicU64,
    listing: Mutex<Option<(Instant, u64, u64)>>,
}

impl fmt::Debug for S3Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Probe")
            .field("endpoint", &self.spec.endpoint)
            .field("bucket", &self.spec.bucket)
            .finish_non_exhaustive()
    }
}

impl S3Probe {
    pub fn new(spec: &Spec) -> Result<Self, String> {
        crate::tls::init();
        let endpoint = spec.endpoint.get().as_url().ok_or("the endpoint cannot hold {{placeholders}}")?;
        let retry = object_store::RetryConfig { max_retries: 0, ..object_store::RetryConfig::default() };
        let plain = endpoint.scheme() == "http";
        let build = |options: object_store::ClientOptions| {
            AmazonS3Builder::new()
                .with_client_options(options)
                .with_endpoint(endpoint.as_str().trim_end_matches('/'))
                .with_allow_http(plain)
                .with_virtual_hosted_style_request(!spec.path_style)
                .with_bucket_name(&spec.bucket)
                .with_region(&spec.region)
                .with_access_key_id(spec.access_key.expose())
                .with_secret_access_key(spec.secret_key.expose())
                .with_retry(retry.clone())
                .build()
        };
        let store = match build(object_store::ClientOptions::new()) {
            Ok(store) => store,
            // Without a CA bundle the HTTP client cannot load the system's
            // roots; a plain-http endpoint never speaks TLS, so it needs none.
            Err(_) if plain => build(object_store::ClientOptions::new().with_allow_invalid_certificates(true))
                .map_err(|e| format!("cannot set up the S3 client: {e}"))?,
            Err(e) => {
                return Err(format!(
                    "cannot set up the S3 client: {e} (is there a CA bundle? install ca-certificates)"
                ));
            }
        };
        Ok(Self { store, spec: spec.clone(), counter: AtomicU64::new(0), listing: Mutex::new(None) })
    }

    /// The client, for backups.
    #[must_use]
    pub fn store(&self) -> &AmazonS3 {
        &self.store
    }

    pub async fn check(&self) -> Outcome {
        let started = Instant::now();
        if let Err(failure) = self.roundtrip().await {
            return Outcome { details: None, failure: Some(failure) };
        }
        let roundtrip_seconds = started.elapsed().as_secs_f64();
        let listing = self.listing().await;
        Outcome::ok(State {
            bucket: self.spec.bucket.clone(),
            roundtrip_seconds,
            objects: listing.map(|(o, _)| o),
            bytes: listing.map(|(_, b)| b),
        })
    }

    /// The put, get, compare, delete round trip alone.
    pub async fn roundtrip(&self) -> Result<(), Failure> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}roundtrip-{}-{n}", self.spec.prefix, std::process::id());
        let path = object_store::path::Path::from(key.as_str());
        // 4 KiB that differ on every run, so a stale cache cannot pass.
        let seed = format!("{key}-{:?}", Instant::now());
        let mut body = Vec::with_capacity(4096);
        while body.len() < 4096 {
            body.extend_from_slice(&Sha256::digest(format!("{seed}-{}", body.len())));
        }
        let expected = Sha256::digest(&body);
        // Some stores create a missing bucket on the first put: ask first, so
        // a wrong bucket name is reported instead of silently created.
        let prefix = object_store::path::Path::from(self.spec.prefix.as_str());
        self.store.list_with_delimiter(Some(&prefix)).await.map_err(|e| failure("list", &e))?;
        self.store.put(&path, body.into()).await.map_err(|e| failure("put", &e))?;
        let read = async { self.store.get(&path).await?.bytes().await };
        let got = match read.await {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = self.store.delete(&path).await;
                return Err(failure("get", &e));
            }
        };
        self.store.delete(&path).await.map_err(|e| failure("delete", &e))?;
        if Sha256::digest(&got) != expected {
            return Err(Failure::new(
                Reason::Checksum,
                format!("the object read back differs from the one written ({} bytes)", got.len()),
            ));
        }
        Ok(())
    }

    /// Object count and bytes of the bucket, at most every `listing_interval`.
    async fn listing(&self) -> Option<(u64, u64)> {
        let interval = self.spec.listing_interval.get();
        if let Some((at, objects, bytes)) = *self.listing.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
            && at.elapsed() < interval
        {
            return Some((objects, bytes));
        }
        let mut stream = self.store.list(None);
        let (mut objects, mut bytes) = (0u64, 0u64);
        let deadline = Instant::now() + self.spec.timeout.map_or(Duration::from_secs(60), HumanDuration::get);
        while let Some(item) = tokio::time::timeout_at(deadline.into(), stream.next()).await.ok()? {
            let meta = item.ok()?;
            objects += 1;
            bytes += meta.size;
        }
        *self.listing.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), objects, bytes));
        Some((objects, bytes))
    }
}

/// Maps an S3 error to a reason. S3 servers say what went wrong in error
/// codes inside the message (`NoSuchBucket`, `InvalidAccessKeyId`…).
pub(super) fn failure(op: &str, e: &object_store::Error) -> Failure {
    let text = crate::errors::chain(e);
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    let reason = if has(&["NoSuchBucket"]) {
        Reason::Missing
    // Status phrases, not bare codes: the object key in the message holds digits.
    } else if has(&["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403 Forbidden", "401 Unauthorized"])
    {
        Reason::Auth
    // rustls: a bad certificate, or an `https://` endpoint that speaks plain HTTP.
    } else if has(&["certificate", "TLS", "tls", "corrupt message", "InvalidContentType"]) {
        Reason::Tls
    } else if has(&["timed out", "Timeout"]) {
        Reason::Timeout
    } else if has(&["Connection refused", "error sending request", "connection", "Connect"]) {
        Reason::Connect
    } else if matches!(e, object_store::Error::NotFound { .. }) {
        Reason::Missing
    } else {
        Reason::Protocol
    };
    Failure::new(reason, format!("{op}: {text}"))
}

impl super::Found for State {
    fn describe(&self, _now: std::time::SystemTime) -> String {
        let trip = format!("round trip in {:.0} ms; bucket {}", self.roundtrip_seconds * 1000.0, self.bucket);
        match self.objects {
            Some(objects) => format!("{trip}: {objects} objects, {}", bytesize::ByteSize::b(self.bytes.unwrap_or(0))),
            None => trip,
        }
    }
}

/// Name, help and value (if any) of an S3 family.
type Family = (&'static str, &'static str, fn(Option<&State>) -> Option<f64>);

/// S3 round trips and bucket listings, labelled `target` and `bucket`. The
/// round-trip series are there for every `s3` target, also before its first
/// run (0).
pub(crate) fn series(entries: &[super::Entry<'_>], enc: &mut DescriptorEncoder) -> fmt::Result {
    let rows: Vec<(&str, &str, Option<&State>)> = entries
        .iter()
        .filter_map(|(check, result)| {
            let crate::config::checks::Spec::S3(spec) = &check.spec else { return None };
            let state = result.and_then(|r| r.outcome.found::<State>());
            Some((check.name.as_str(), spec.bucket.as_str(), state))
        })
        .collect();
    let families: [Family; 4] = [
        (
            series::S3_ROUNDTRIP_SUCCESS,
            "Whether the last put, get, sha256 compare and delete of a test object succeeded (runs on its own schedule).",
            |s| Some(f64::from(u8::from(s.is_some()))),
        ),
        (series::S3_ROUNDTRIP_DURATION_SECONDS, "Time of the last successful round trip.", |s| {
            Some(s.map_or(0.0, |s| s.roundtrip_seconds))
        }),
        (series::S3_OBJECTS, "Objects in the bucket, from the last listing (at most every listing_interval).", |s| {
            s.and_then(|s| s.objects).map(|o| o as f64)
        }),
        (series::S3_BYTES, "Bytes in the bucket, from the last listing.", |s| {
            s.and_then(|s| s.bytes).map(|b| b as f64)
        }),
    ];
    for (name, help, value) in families {
        if rows.iter().all(|(_, _, s)| value(*s).is_none()) {
            continue;
        }
        let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (target, bucket, state) in &rows {
            if let Some(v) = value(*state) {
                family.encode_family(&[("target", *target), ("bucket", *bucket)])?.encode_gauge(&v)?;
            }
        }
    }
    Ok(())
}

impl super::Run for S3Probe {
    fn run(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(self.check())
    }
}
