//! Test helpers: servers whose behaviour the tests control, running volley as a child.
