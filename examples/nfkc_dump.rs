//! Prints every Unicode scalar value the native NFKC (`domain::nfkc`, the unicode-normalization
//! crate) changes, one per line: the code point and its NFKC form, both in hexadecimal.
//! `scripts/nfkc-fixture.mjs` compares it with workerd's answers to renew
//! `tests/fixtures/nfkc.json`.

use std::io::Write;
use tessera::domain::nfkc::nfkc;

fn main() {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut one = [0u8; 4];
    for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
        let s: &str = c.encode_utf8(&mut one);
        let n = nfkc(s);
        if n != s {
            let form: Vec<String> = n.chars().map(|x| format!("{:04X}", x as u32)).collect();
            writeln!(out, "{:04X}\t{}", c as u32, form.join(" ")).expect("stdout");
        }
    }
}
