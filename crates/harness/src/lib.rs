//! volley-harness (placeholder)
