//! Integration tests: cli_errors (see ARCHITECTURE.md, Testing).
