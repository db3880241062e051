//! Integration tests: cluster (see ARCHITECTURE.md, Testing).
