//! `volley serve-demo` (placeholder until its issue lands).

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct ServeDemoArgs {}

pub fn main(_args: ServeDemoArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley serve-demo` is not implemented yet")
}
