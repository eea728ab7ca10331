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
//! Whatever the runtime's Unicode version, what an email or password normalises to must not
//! change once it is stored, and it would: Cloudflare updates V8 and its ICU without a deploy of
//! ours, and a character unassigned in one version may decompose, or combine with its
//! neighbours, in the next. Unicode's stability policy forbids that for assigned characters
//! only, so the parsers refuse any input holding a code point the runtime does not know
//! (`has_unassigned`; UAX #15's "stabilized strings", as NIST SP 800-63B advises for
//! passwords): every string accepted today normalises the same under every later version.
//! Private-use characters are assigned (and never decompose): they stay accepted. Emails are
//! lower-cased by the same engine (`nfkc_lowercase`), not by Rust's case tables, which follow
//! the toolchain's Unicode version. Stored addresses are not normalised again when read
//! (`Email::from_stored`).
//!
//! Before this module production normalised with the crate (Unicode 18), which knows more than
//! the pinned workerd's ICU (older than Unicode 17): the 69 characters the fixture lists, which
//! the crate maps and the runtime leaves, and the combining marks of Unicode 17 and 18, which
//! the crate reorders and composes around and the runtime treats as unassigned. An email or
//! password that held one of those was normalised by the crate when stored; it is now refused
//! until workerd's ICU knows the character: such a password can be reset by email (where the
//! app delivers email), but such an address cannot sign in, reset or sign in by code until
//! then. A D1 query can find such addresses; passwords are hashed. Nothing older differs.
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

/// The NFKC form of `s`, lower-cased by the same implementation (emails): in the worker both
/// steps are the engine's (`toLowerCase`), so that the assigned check, normalisation and case
/// mapping all come from one Unicode version, whose stability policy then covers them (case
/// pairs never change for assigned characters). Rust's own case tables follow the toolchain's
/// Unicode version instead, which need not be the runtime's.
#[cfg(not(target_arch = "wasm32"))]
pub fn nfkc_lowercase(s: &str) -> String {
    nfkc(s).to_lowercase()
}

/// The NFKC form of `s`, lower-cased by the engine too (see the native twin).
#[cfg(target_arch = "wasm32")]
pub fn nfkc_lowercase(s: &str) -> String {
    js_sys::JsString::from(s)
        .normalize("NFKC")
        .to_lower_case()
        .as_string()
        .unwrap_or_default()
}

/// Whether `s` holds a code point that is unassigned (general category `Cn`, noncharacters
/// included) in the Unicode version of the normaliser at hand.
#[cfg(not(target_arch = "wasm32"))]
pub fn has_unassigned(s: &str) -> bool {
    use unicode_normalization::char::is_public_assigned;
    // The crate's table leaves out private use as well as Cn; private use is assigned.
    let private_use = |c: char| matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}');
    s.chars().any(|c| !is_public_assigned(c) && !private_use(c))
}

/// Whether `s` holds a code point that is unassigned (general category `Cn`, noncharacters
/// included) in the JavaScript engine's Unicode version: the engine's own regular expression,
/// so that it agrees with the engine's normalisation. Built once per isolate.
#[cfg(target_arch = "wasm32")]
pub fn has_unassigned(s: &str) -> bool {
    thread_local! {
        static UNASSIGNED: js_sys::RegExp = js_sys::RegExp::new("\\p{Cn}", "u");
    }
    UNASSIGNED.with(|re| re.test(s))
}

#[cfg(test)]
mod tests {
    use super::{has_unassigned, nfkc};
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
    fn unassigned_code_points_are_found_and_assigned_ones_are_not() {
        for unassigned in [
            "\u{0378}",
            "\u{FFFF}",
            "\u{FDD0}",
            "\u{10FFFF}",
            "\u{E0080}",
        ] {
            assert!(has_unassigned(unassigned), "{unassigned:?}");
            assert!(
                has_unassigned(&format!("password{unassigned}123")),
                "{unassigned:?}"
            );
        }
        // Private use (the Apple logo a Mac keyboard types: U+F8FF) is assigned; so is
        // everything the samples use.
        for assigned in [
            "plain",
            "\u{F8FF}",
            "\u{E000}\u{F0000}\u{10FFFD}",
            "\u{1F600}",
            "\u{FDFA}",
        ] {
            assert!(!has_unassigned(assigned), "{assigned:?}");
        }
        for sample in fixture()["samples"].as_array().expect("samples") {
            assert!(!has_unassigned(sample["input"].as_str().unwrap()));
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
