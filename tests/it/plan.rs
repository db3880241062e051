//! Integration tests: plan (see ARCHITECTURE.md, Testing).
