//! Print a summary of every bundled dataset and of its default split.
//!
//! Run: `cargo run -p datasets --example inspect --release`

fn main() {
    for name in datasets::bundled::NAMES {
        match datasets::bundled::split(name, datasets::bundled::DEFAULT_SEED) {
            Ok(split) => {
                println!(
                    "== {name} (public training part)\n{}\n",
                    split.train.summary()
                );
                println!(
                    "== {name} (hidden evaluation part)\n{}\n",
                    split.hidden.summary()
                );
            }
            Err(e) => println!("== {name}\n{e}\n"),
        }
    }
}
