//! volley-demo (placeholder)
