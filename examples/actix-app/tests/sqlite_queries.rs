//! The actix example as a user runs it: the axum example's HTTP suite
//! (`examples/axum-app/tests/common/example_http.rs`) against this app's binary, so the two
//! examples answer alike.

#[path = "../../axum-app/tests/common/example_http.rs"]
mod example_http;

example_http::example_http_tests!(env!("CARGO_BIN_EXE_spyglass-example-actix"));
