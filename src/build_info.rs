//! What build this is: the version from Cargo.toml and the git revision
//! `build.rs` recorded. `/metrics` (`opsgen_build_info`), the status page,
//! the context API, backup manifests and the HTTP user agent all say it.

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision the binary was built from (`unknown` outside a checkout).
pub const REVISION: &str = env!("OPS_GEN_REVISION");
