//! One integration-test binary; one module per theme. Every test starts its own servers on
//! 127.0.0.1 port 0, is bounded in time and requests, and cleans up the processes it starts.

mod support;

mod architecture;

mod capacity;
mod cli_errors;
mod cluster;
mod compat_k6;
mod compat_locust;
mod csv_report;
mod dashboard;
mod demo;
mod failures;
mod fuzz;
mod hardening_cli;
mod hardening_engine;
mod hardening_report;
mod k8s;
mod merge;
mod open_model;
mod plan;
mod quick;
mod report;
mod scale;
mod scale_deploy;
mod scale_nginx;
mod schema;
mod segments;
mod transport_http1;
mod transport_http2;
mod transport_pipeline;
