//! What a load test measured, and the result file that carries it.
//!
//! This crate is the contract between running a test and everything that is shown afterwards:
//! the engine records into [`Recorder`]s (one per worker thread, never shared), recorders merge,
//! and [`RunResult`] is the versioned document every report renders. It knows nothing about
//! tokio, HTTP clients or presentation, so reports can be rendered from a file made elsewhere.

pub mod capacity;
pub mod catalogue;
pub mod failure;
pub mod histogram;
pub mod merge;
pub mod read;
pub mod recorder;
pub mod result;
pub mod segment;
pub mod selector;
pub mod summary;
pub mod sweep;
pub mod threshold;

pub use catalogue::{CATALOGUE, Contains, MetricDef};
pub use failure::FailureKind;
pub use recorder::{GaugeValue, Gauges, Interval, Recorder, Sample};
pub use result::Group;
pub use result::*;
pub use selector::{MetricKey, Selector, Tag};
pub use threshold::{Aggregate, Op, Threshold, ThresholdExpr};
