#[spyglass::instrument(name = "")]
fn handler() {}

fn main() {}
