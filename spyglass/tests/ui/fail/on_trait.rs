#[spyglass::instrument]
trait Repo {
    fn get(&self) -> u32;
}

fn main() {}
