//! Test plans: from YAML (or quick-mode flags) to a validated [`Spec`].
//!
//! Parse, then resolve: raw input is checked once here, and everything downstream takes only
//! the validated types of [`spec`]. Pure: no I/O besides reading the plan's own files (CSV
//! feeders, body files), no network, no clock.

pub mod runtime;
pub mod spec;
pub mod template;
pub mod threshold;

pub use spec::*;
pub use template::{Template, VuState};
pub use threshold::{Op, Threshold, ThresholdExpr};
pub use runtime::{RenderedRequest, ResponseView};
