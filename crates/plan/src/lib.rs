//! Test plans: from YAML (or quick-mode flags) to a validated [`Spec`].
//!
//! Parse, then resolve: raw input is checked once here, and everything downstream takes only
//! the validated types of [`spec`]. Pure: no I/O besides reading the plan's own files (CSV
//! feeders, body files), no network, no clock.

mod describe;
pub mod error;
mod load;
pub mod runtime;
pub mod spec;
pub mod template;
pub mod threshold;
mod yaml;

pub use describe::format_duration;
pub use error::{PlanError, PlanErrors};
pub use load::parse_duration;
pub use load::{Overrides, load, load_str};
pub use runtime::{RenderedRequest, ResponseView};
pub use spec::*;
pub use template::{Template, VuState};
pub use threshold::{Op, Threshold, ThresholdExpr};
