#[spyglass::instrument(level = "info")]
fn handler() {}

fn main() {}
