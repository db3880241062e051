//! `volley report` (placeholder until its issue lands).

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {}

pub fn main(_args: ReportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley report` is not implemented yet")
}
