//! `volley compare` (placeholder until its issue lands).

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct CompareArgs {}

pub fn main(_args: CompareArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley compare` is not implemented yet")
}
