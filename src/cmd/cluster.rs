//! `volley cluster` (placeholder until its issue lands).

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {}

pub fn main(_args: ClusterArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley cluster` is not implemented yet")
}
