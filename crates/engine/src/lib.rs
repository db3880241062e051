//! volley-engine (placeholder)
