#[spyglass::instrument(skip)]
fn handler() {}

fn main() {}
