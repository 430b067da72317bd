use std::fmt::Debug;

#[spyglass::instrument]
fn plain() {}

#[spyglass::instrument]
fn generic<T: Debug, U>(t: T, _u: U) -> String
where
    U: Clone,
{
    format!("{t:?}")
}

#[spyglass::instrument]
fn with_lifetimes<'a>(s: &'a str, _t: &str) -> &'a str {
    s
}

#[spyglass::instrument]
fn returns_impl() -> impl Iterator<Item = u8> {
    [1u8, 2].into_iter()
}

#[spyglass::instrument]
fn early_return(x: i32) -> Result<i32, std::io::Error> {
    if x < 0 {
        return Err(std::io::Error::other("negative"));
    }
    Ok(x)
}

#[spyglass::instrument]
fn mut_args(mut v: Vec<u8>) -> usize {
    v.push(1);
    v.len()
}

#[spyglass::instrument]
async fn async_fn(x: &str) -> usize {
    x.len()
}

#[spyglass::instrument(name = "custom_name")]
async fn async_result() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

struct S {
    v: Vec<u8>,
}

trait Tr {
    fn tr(&self) -> u8;
}

#[spyglass::instrument]
impl Tr for S {
    fn tr(&self) -> u8 {
        self.v[0]
    }
}

#[spyglass::instrument]
impl S {
    fn new() -> Self {
        S { v: vec![1] }
    }

    fn get_mut(&mut self) -> &mut Vec<u8> {
        &mut self.v
    }

    async fn push(&mut self, x: u8) {
        self.v.push(x);
    }

    #[instrument(skip)]
    const fn constant() -> u8 {
        3
    }
}

fn main() {
    plain();
    let _ = generic(1, 2);
    let _ = with_lifetimes("a", "b");
    let _ = returns_impl().count();
    let _ = early_return(1);
    let _ = mut_args(vec![]);
    let _ = async_fn("x");
    let _ = async_result();
    let mut s = S::new();
    s.get_mut().push(2);
    let _ = s.push(3);
    let _ = s.tr();
    let _ = S::constant();
}
