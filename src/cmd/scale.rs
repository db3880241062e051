//! `volley scale` (placeholder until its issue lands).

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct ScaleArgs {}

pub fn main(_args: ScaleArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley scale` is not implemented yet")
}
