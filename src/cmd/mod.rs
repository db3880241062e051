//! One module per command; each owns its flags (`clap::Args`) and its `main`.

pub mod observe;
pub mod quick;
pub mod run;
pub mod validate;
pub mod report;
pub mod compare;
pub mod scale;
pub mod cluster;
pub mod serve_demo;
pub mod demo;
