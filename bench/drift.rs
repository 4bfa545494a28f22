//! The drift check's cost on a big Compose project: time and Docker API
//! calls of one run, cold (Compose CLI resolves the files, every container
//! inspected), warm (nothing changed), and after one container restarted.
//! `bench/drift.sh` sets up the project and calls this.
//!
//!   cargo run --release --example drift -- ops-gen.yml CONTAINER
//!
//! Prints one JSON object.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ops_gen::config::Loaded;
use ops_gen::config::checks::Spec;
use ops_gen::probe::docker::DriftProbe;

async fn timed(probe: &DriftProbe) -> (Duration, u64, usize) {
    let before = probe.api_calls().await;
    let start = Instant::now();
    let outcome = probe.check().await;
    let took = start.elapsed();
    let services = match outcome.found::<ops_gen::probe::docker::State>() {
        Some(state) => state.services.len(),
        None => panic!("the drift check failed: {:?}", outcome.failure),
    };
    (took, probe.api_calls().await - before, services)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, container] = args.as_slice() else {
        eprintln!("usage: drift CONFIG CONTAINER_TO_RESTART");
        return ExitCode::from(2);
    };
    let loaded = match Loaded::load(Some(std::path::Path::new(config))) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Some(Spec::Docker(spec)) = loaded.config.checks.values().find(|s| matches!(s, Spec::Docker(_))) else {
        eprintln!("{config} has no docker check");
        return ExitCode::from(2);
    };
    let probe = DriftProbe::new(spec);
    let (cold, cold_calls, services) = timed(&probe).await;
    let mut warm = Vec::new();
    let mut warm_calls = 0;
    for _ in 0..20 {
        let (t, calls, _) = timed(&probe).await;
        warm.push(t);
        warm_calls = warm_calls.max(calls);
    }
    warm.sort();
    let restarted = std::process::Command::new("docker").args(["restart", "-t", "0", container]).output();
    assert!(restarted.is_ok_and(|o| o.status.success()), "docker restart {container}");
    let (changed, changed_calls, _) = timed(&probe).await;
    println!(
        "{{\"services\": {services}, \"cold_ms\": {:.1}, \"cold_calls\": {cold_calls}, \"warm_ms_median\": {:.1}, \"warm_calls\": {warm_calls}, \"after_restart_ms\": {:.1}, \"after_restart_calls\": {changed_calls}}}",
        cold.as_secs_f64() * 1000.0,
        warm[warm.len() / 2].as_secs_f64() * 1000.0,
        changed.as_secs_f64() * 1000.0,
    );
    ExitCode::SUCCESS
}
