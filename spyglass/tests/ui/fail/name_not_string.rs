#[spyglass::instrument(name = checkout)]
fn handler() {}

fn main() {}
