//! Integration tests: open_model (see ARCHITECTURE.md, Testing).
