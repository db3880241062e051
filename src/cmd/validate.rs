//! `volley validate` (placeholder until its issue lands).

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {}

pub fn main(_args: ValidateArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley validate` is not implemented yet")
}
