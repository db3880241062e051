//! `volley demo` (placeholder until its issue lands).

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {}

pub fn main(_args: DemoArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley demo` is not implemented yet")
}
