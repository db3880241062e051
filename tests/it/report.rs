//! Integration tests: report (see ARCHITECTURE.md, Testing).
