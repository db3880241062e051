//! Integration tests: scale (see ARCHITECTURE.md, Testing).
