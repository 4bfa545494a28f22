//! Bakes the git revision into the binary for `opsgen_build_info`.
//! `OPS_GEN_REVISION` overrides it (for builds outside a git checkout).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=OPS_GEN_REVISION");
    let revision = std::env::var("OPS_GEN_REVISION").ok().filter(|r| !r.is_empty()).or_else(git_revision);
    println!("cargo:rustc-env=OPS_GEN_REVISION={}", revision.as_deref().unwrap_or("unknown"));
}

fn git_revision() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    // Rebuild when HEAD moves, so the revision stays true.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &reference])
    {
        println!("cargo:rerun-if-changed={path}");
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}
