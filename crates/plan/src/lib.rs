//! Test plans: from YAML (or quick-mode flags) to a validated [`Spec`].
//!
//! Parse, then resolve: raw input is checked once here, and everything downstream takes only
//! the validated types of [`spec`]. Pure: no I/O besides reading the plan's own files (CSV
//! feeders, body files), no network, no clock (except `{{ timestamp }}` when it renders).
//!
//! Entry points: [`load`] / [`load_str`] (YAML plan → [`Spec`] or every [`PlanError`]),
//! [`quick::build`] (quick-mode flags → [`Spec`]), [`Target::parse`] (the one URL parser), the
//! per-request runtime in [`runtime`] (render a step, pick a flow, feed rows, checks,
//! extraction, cookies, think time), [`threshold`] (k6 expressions). The plan format is
//! documented in `docs/plan.md` and `schema/plan.schema.json`.

mod describe;
pub mod error;
pub mod files;
mod load;
pub mod quick;
pub mod runtime;
pub mod spec;
pub mod target;
pub mod template;
pub mod threshold;
mod yaml;

pub use describe::format_duration;
pub use error::{PlanError, PlanErrors};
pub use load::parse_duration;
pub use load::{Overrides, load, load_str};
pub use runtime::{CookieJar, RenderedRequest, ResponseView};
pub use spec::*;
pub use target::{HeaderConflict, Target, check_user_header};
pub use template::{Template, VuState};
pub use threshold::{Op, Threshold, ThresholdExpr};
