//! Unicode compatibility normalisation (NFKC) of emails and passwords, by whichever
//! implementation is already at hand: natively the `unicode-normalization` crate, in the worker
//! the JavaScript engine's own `String.prototype.normalize("NFKC")` (V8's ICU, called through
//! `js-sys`), so the wasm does not carry a second copy of the Unicode decomposition and
//! composition tables (about 62 KiB gzipped, measured in BENCHMARKS.md).
//!
//! Both implement the same standard, and Unicode's stability policy fixes the normal form of
//! every assigned character forever, so the two can differ only on a character one of them does
//! not know yet, which it leaves as it is. That they agree is tested, not assumed, against
//! `tests/fixtures/nfkc.json`: natively below and in workerd by `tests/e2e/unicode.spec.ts`.
//! The fixture pins the SHA-256 of the NFKC form of every Unicode scalar value but the ones it
//! lists as newer than the runtime (characters of a Unicode version the crate has and workerd's
//! ICU has not yet: the crate maps them, the runtime leaves them, both checked), and samples
//! that must reach the same account through HTTP. A new Unicode version in either (a crate
//! update, a workerd update) fails one of the two tests; the fixture is then renewed
//! deliberately (`scripts/nfkc-fixture.mjs` writes it from the runtime's answers).
//!
//! What production normalises is the runtime's answer. Before this module it was the crate's
//! (Unicode 18), so an email or password holding one of the listed characters normalises
//! differently than when it was stored; no other can. The fixture lists 69 (December 2026):
//! the pinned workerd's ICU predates Unicode 17, and all 69 are letters and signs added in
//! Unicode 17 and 18 (2025, 2026). A password holding one fails at sign-in until it is reset;
//! an address holding one is a different address from the stored one.
//!
//! This is the domain's one use of the JavaScript runtime; it is a pure function either way.

/// The NFKC form of `s`.
#[cfg(not(target_arch = "wasm32"))]
pub fn nfkc(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfkc().collect()
}

/// The NFKC form of `s`. The engine returns a string for any string; were it ever not to, the
/// answer is empty, which every caller refuses (an empty email or password is invalid).
#[cfg(target_arch = "wasm32")]
pub fn nfkc(s: &str) -> String {
    js_sys::JsString::from(s)
        .normalize("NFKC")
        .as_string()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::nfkc;
    use sha2::{Digest, Sha256};

    /// The fixture both this test and the workerd spec check against.
    fn fixture() -> serde_json::Value {
        let text = include_str!("../../tests/fixtures/nfkc.json");
        serde_json::from_str(text).expect("tests/fixtures/nfkc.json is JSON")
    }

    /// The characters the runtime does not know yet (hexadecimal code points in the fixture).
    fn newer_than_the_runtime() -> Vec<char> {
        fixture()["newer_than_the_runtime"]
            .as_array()
            .expect("newer_than_the_runtime")
            .iter()
            .map(|hex| {
                let hex = hex.as_str().expect("a hexadecimal code point");
                char::from_u32(u32::from_str_radix(hex, 16).expect("hexadecimal"))
                    .expect("a scalar value")
            })
            .collect()
    }

    #[test]
    fn every_scalar_value_the_runtime_knows_normalises_as_the_pinned_digest_says() {
        // Each scalar's NFKC form followed by a line feed, as UTF-8: what the workerd spec
        // hashes too.
        let skip = newer_than_the_runtime();
        let mut all = String::with_capacity(8 << 20);
        let mut one = [0u8; 4];
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            if !skip.contains(&c) {
                all.push_str(&nfkc(c.encode_utf8(&mut one)));
                all.push('\n');
            }
        }
        let digest: String = Sha256::digest(all.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            fixture()["sha256"].as_str(),
            Some(digest.as_str()),
            "the NFKC tables changed (a new Unicode version?): see this module's header"
        );
    }

    #[test]
    fn the_characters_newer_than_the_runtime_are_ones_the_crate_maps() {
        // Were one of them left as it is here too, it would not be a difference: the list
        // would be hiding a character from the digest for nothing.
        let mut one = [0u8; 4];
        for c in newer_than_the_runtime() {
            let s: &str = c.encode_utf8(&mut one);
            assert_ne!(nfkc(s), s, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn the_samples_normalise_as_pinned() {
        for sample in fixture()["samples"].as_array().expect("samples") {
            let input = sample["input"].as_str().expect("input");
            let nfkc_form = sample["nfkc"].as_str().expect("nfkc");
            assert_eq!(nfkc(input), nfkc_form, "{input:?}");
        }
    }
}
