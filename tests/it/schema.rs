//! Integration tests: schema (see ARCHITECTURE.md, Testing).
