//! The axum example as a user runs it: the examples' shared HTTP suite
//! (`tests/common/example_http.rs`, also run against the actix twin) against this app's binary.

#[path = "common/example_http.rs"]
mod example_http;

example_http::example_http_tests!(env!("CARGO_BIN_EXE_spyglass-example-axum"));
