//! Integration tests: failures (see ARCHITECTURE.md, Testing).
