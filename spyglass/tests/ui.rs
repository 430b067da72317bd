//! Compile-time behaviour of `#[spyglass::instrument]`: what compiles, and the errors a user can hit.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
