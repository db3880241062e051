//! `volley run` (placeholder until its issue lands).

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct RunArgs {}

pub fn main(_args: RunArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley run` is not implemented yet")
}
