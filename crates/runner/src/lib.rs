//! A run of volley as one library type: what every command that sends load does, whoever
//! asks for it (quick mode, `run`, `scale`, `capacity`, `demo`, the dashboard's tests).
//!
//! The crate is named *runner* because it owns the orchestration around the engine, not the
//! load itself: the engine sends requests and measures them; the runner observes the service
//! under test ([`observe`]), runs the engine, attaches the server samples and hands back one
//! [`volley_metrics::RunResult`] ([`Run`]); for a sweep it does that once per instance count
//! behind the harness's cluster ([`sweep`]). One [`Stop`] ends any of them gracefully (signals,
//! the dashboard's stop button, a sweep's later runs), and one [`Live`] stream of per-second
//! snapshots feeds every live reader (progress line, dashboard, Prometheus). [`kubernetes`]
//! runs a plan's segments as the pods of an Indexed Job and merges their results.
//!
//! The binary's commands only convert their flags into these inputs (as ripgrep's low-level
//! arguments become its high-level ones) and print or save what comes back.

pub mod capacity;
pub mod dashboard;
pub mod kubernetes;
pub mod live;
pub mod observe;
mod run;
pub mod stop;
pub mod sweep;

pub use live::Live;
pub use observe::Watching;
pub use run::{Run, RunError};
pub use stop::Stop;
