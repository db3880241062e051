//! Integration tests: quick (see ARCHITECTURE.md, Testing).
