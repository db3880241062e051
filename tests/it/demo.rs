//! Integration tests: demo (see ARCHITECTURE.md, Testing).
