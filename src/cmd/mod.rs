//! One module per command; each owns its flags (`clap::Args`) and its `main`.

pub mod capacity;
pub mod cluster;
pub mod compare;
pub mod dashboard;
pub mod demo;
pub mod k8s;
pub mod merge;
pub mod quick;
pub mod report;
pub mod run;
pub mod scale;
pub mod segment;
pub mod serve_demo;
pub mod validate;
