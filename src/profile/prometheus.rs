//! (in progress)

use super::{Artifact, Context};

#[must_use]
pub fn artifacts(_ctx: &Context<'_>) -> Vec<Artifact> {
    Vec::new()
}
