fn main() { println!("the example app is being built: see issue 3"); }
