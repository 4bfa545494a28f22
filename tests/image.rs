//! The project's `Dockerfile`, built for real on the private engine: the
//! runtime stage users get, with the binary under test copied in (the
//! `prebuilt` target: no Rust image can be pulled here), on a Debian base
//! made with debootstrap (`scripts/docker.sh debian-base`).

use std::process::Command;
use std::time::Duration;

use crate::util::{self, docker, docker_host};

/// `docker build --target prebuilt` of the Dockerfile in a context holding
/// only it and the binary under test; returns the image's name.
fn build(host: &str) -> String {
    let base = Command::new(util::repo_root().join("scripts/docker.sh"))
        .arg("debian-base")
        .env("DOCKER_HOST", host)
        .output()
        .unwrap();
    assert!(base.status.success(), "the Debian base image: {}", String::from_utf8_lossy(&base.stderr));
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(util::repo_root().join("Dockerfile"), context.path().join("Dockerfile")).unwrap();
    std::fs::create_dir_all(context.path().join("target/release")).unwrap();
    std::fs::copy(util::bin(), context.path().join("target/release/ops-gen")).unwrap();
    let image = "ops-gen-test/image:dev";
    let built = Command::new("docker")
        .env("DOCKER_HOST", host)
        .args(["build", "--network", "host", "--target", "prebuilt", "-t", image])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "docker build: {}\n{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    image.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_65532_with_the_backup_tools_and_reports_healthy() {
    let host = docker_host();
    let image = build(&host);
    let run = |args: &[&str]| docker(&host, &[&["run", "--rm"][..], args].concat());
    assert!(run(&[&image, "--version"]).starts_with("ops-gen "), "the entrypoint is ops-gen");
    assert_eq!(run(&["--entrypoint", "id", &image, "-u"]).trim(), "65532", "the user the k8s manifests assume");
    assert!(run(&["--entrypoint", "pg_dump", &image, "--version"]).contains("PostgreSQL"));
    assert!(run(&["--entrypoint", "redis-cli", &image, "--version"]).contains("redis-cli"));
    assert!(run(&["--entrypoint", "ls", &image, "/etc/ssl/certs/ca-certificates.crt"]).contains("ca-certificates"));

    // `serve` by default, healthy by its own HEALTHCHECK (`ops-gen healthcheck`).
    let name = util::unique("ops-gen-image").to_lowercase();
    let network = format!("{name}-net");
    docker(&host, &["network", "create", &network]);
    docker(&host, &["run", "-d", "--name", &name, "--network", &network, "--health-interval", "1s", &image]);
    let health = || docker(&host, &["inspect", "--format", "{{.State.Health.Status}}", &name]).trim().to_owned();
    util::eventually("the container to be healthy", Duration::from_secs(60), async || health() == "healthy").await;
    let logs = docker(&host, &["logs", &name]);
    docker(&host, &["rm", "-f", &name]);
    docker(&host, &["network", "rm", &network]);
    assert!(logs.is_empty() || !logs.contains("panicked"), "{logs}");
}

/// The release workflow publishes the image the profile runs by default,
/// from this Dockerfile's final stage, for both architectures.
#[test]
fn the_release_workflow_publishes_the_profiles_default_image() {
    let text = std::fs::read_to_string(util::repo_root().join(".github/workflows/release.yml")).unwrap();
    let workflow: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let steps = workflow["jobs"]["image"]["steps"].as_sequence().unwrap();
    let build = steps.iter().find(|s| s["id"] == "build").unwrap();
    assert_eq!(build["with"]["file"], "Dockerfile");
    assert_eq!(build["with"]["target"], "runtime");
    assert_eq!(build["with"]["platforms"], "linux/amd64,linux/arm64");
    let default = ops_gen::config::profile::Component::Exporter.default_image();
    let repository = default.rsplit_once(':').unwrap().0;
    assert!(text.contains(&format!("images: {repository}")), "the workflow publishes {repository}");
    let dockerfile = std::fs::read_to_string(util::repo_root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("AS runtime") && dockerfile.contains("AS prebuilt"));
}
