//! Passwords: the input rule, PBKDF2 hashing, and the self-describing hash string.
//!
//! A stored hash reads `$pbkdf2-sha512$i=210000$<salt>$<hash>` (PHC string format, standard
//! base64 without padding), so the algorithm and cost can move and old hashes are recognised
//! and upgraded at the next successful sign-in. Verification compares in constant time.

use super::nfkc::{has_unassigned, nfkc};
use super::Error;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use std::fmt;
use subtle::ConstantTimeEq;

/// Fewest characters a password may have (after NFKC).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most characters a password may have (after NFKC).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Fewest iterations a real (non-test) policy may use.
pub const MIN_PRODUCTION_ITERATIONS: u32 = 100_000;
/// Most iterations accepted from a stored hash, so a corrupt row cannot stall a request.
const MAX_ITERATIONS: u32 = 10_000_000;
/// Bytes of random salt per hash.
pub const SALT_BYTES: usize = 16;

/// A password that satisfies the length rule. Its `Debug` never shows the text.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// NFKC-normalises and checks the length (8..=128 characters). Anything longer than 128
    /// characters of four bytes each is refused before normalising, so an oversized password
    /// costs no more than any other refusal; so is a password holding a code point the
    /// runtime's Unicode has not assigned, whose normal form a newer one could change
    /// (`domain/nfkc.rs`).
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let refuse = || {
            Error::validation(format!(
                "password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"
            ))
        };
        if raw.len() > MAX_PASSWORD_CHARS * 4 {
            return Err(refuse());
        }
        if has_unassigned(raw) {
            return Err(Error::validation(
                "password holds a character not assigned in this service's Unicode version",
            ));
        }
        let normalised: String = nfkc(raw);
        let chars = normalised.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
            return Err(refuse());
        }
        Ok(Password(normalised))
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The PRF under PBKDF2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// PBKDF2-HMAC-SHA256 (OWASP: 600,000 iterations).
    Sha256,
    /// PBKDF2-HMAC-SHA512 (OWASP: 210,000 iterations).
    Sha512,
}

impl Algorithm {
    fn phc_id(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "pbkdf2-sha256",
            Algorithm::Sha512 => "pbkdf2-sha512",
        }
    }

    fn output_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    fn derive(self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        DERIVATIONS.with(|n| n.set(n.get() + 1));
        match self {
            Algorithm::Sha256 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out)
            }
            Algorithm::Sha512 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, out)
            }
        }
    }
}

std::thread_local! {
    static DERIVATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many PBKDF2 derivations (hashes and verifications) this thread has run: lets tests
/// prove that a refused sign-in hashed (timing-safe) or did not (throttled before hashing).
pub fn derivations() -> u64 {
    DERIVATIONS.with(|n| n.get())
}

/// The parameters of a hash: its algorithm and iteration count — what its cost depends on.
/// Stored beside each hash (`$pbkdf2-sha512$i=210000`, the PHC string's prefix) so the sets in
/// use can be listed without reading every hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PasswordParams {
    algorithm: Algorithm,
    iterations: u32,
}

impl PasswordParams {
    /// The stored form, e.g. `$pbkdf2-sha512$i=210000`.
    pub fn to_phc_prefix(self) -> String {
        format!("${}$i={}", self.algorithm.phc_id(), self.iterations)
    }

    /// Parses the stored form; `None` for anything else.
    pub fn parse(prefix: &str) -> Option<Self> {
        let rest = prefix.strip_prefix('$')?;
        let (algorithm, iterations) = rest.split_once('$')?;
        let algorithm = match algorithm {
            "pbkdf2-sha256" => Algorithm::Sha256,
            "pbkdf2-sha512" => Algorithm::Sha512,
            _ => return None,
        };
        let iterations: u32 = iterations.strip_prefix("i=")?.parse().ok()?;
        (1..=MAX_ITERATIONS)
            .contains(&iterations)
            .then_some(PasswordParams {
                algorithm,
                iterations,
            })
    }

    /// A hash with these parameters that never verifies but costs what a real one does: what
    /// an account without a usable hash is checked against, so timing tells nothing.
    pub fn dummy_hash(self) -> PasswordHash {
        PasswordHash {
            algorithm: self.algorithm,
            iterations: self.iterations,
            salt: b"tessera-dummy-sa".to_vec(),
            hash: vec![0u8; self.algorithm.output_len()],
        }
    }
}

/// The hashing cost an app asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    algorithm: Algorithm,
    iterations: u32,
    /// The fewest iterations a stored hash may have and still be trusted: 100,000 for every
    /// production policy, so a hash planted with `i=1` never verifies outside tests.
    floor: u32,
}

impl Default for PasswordPolicy {
    /// PBKDF2-HMAC-SHA512 at 210,000 iterations: OWASP's equal-strength alternative to
    /// SHA-256 at 600,000, and about three times cheaper in wasm (see BENCHMARKS.md), so the
    /// same security costs a third of the CPU per sign-in. SHA-256 hashes still verify and are
    /// upgraded at the next successful sign-in.
    fn default() -> Self {
        PasswordPolicy {
            algorithm: Algorithm::Sha512,
            iterations: 210_000,
            floor: MIN_PRODUCTION_ITERATIONS,
        }
    }
}

impl PasswordPolicy {
    /// A production policy; refuses fewer than 100,000 iterations.
    pub fn new(algorithm: Algorithm, iterations: u32) -> Result<Self, Error> {
        if !(MIN_PRODUCTION_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(Error::validation(format!(
                "password hashing needs {MIN_PRODUCTION_ITERATIONS} to {MAX_ITERATIONS} iterations"
            )));
        }
        Ok(PasswordPolicy {
            algorithm,
            iterations,
            floor: MIN_PRODUCTION_ITERATIONS,
        })
    }

    /// A deliberately weak policy for tests only. The worker selects it only when the
    /// test-only variable `TESSERA_TEST_PBKDF2_ITERATIONS` is bound, which no deployment sets.
    pub fn insecure_for_tests(iterations: u32) -> Self {
        let iterations = iterations.clamp(1, MAX_ITERATIONS);
        PasswordPolicy {
            algorithm: Algorithm::Sha256,
            iterations,
            floor: 1,
        }
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Hashes a password with a fresh random salt.
    pub fn hash(&self, password: &Password, salt: [u8; SALT_BYTES]) -> PasswordHash {
        let mut hash = vec![0u8; self.algorithm.output_len()];
        self.algorithm
            .derive(password.as_bytes(), &salt, self.iterations, &mut hash);
        PasswordHash {
            algorithm: self.algorithm,
            iterations: self.iterations,
            salt: salt.to_vec(),
            hash,
        }
    }

    /// A hash that never verifies but costs exactly what a real one of this policy does.
    pub fn dummy_hash(&self) -> PasswordHash {
        self.params().dummy_hash()
    }

    /// The parameters new hashes get.
    pub fn params(&self) -> PasswordParams {
        PasswordParams {
            algorithm: self.algorithm,
            iterations: self.iterations,
        }
    }

    /// True when `stored` may be trusted at all: at least the production floor of 100,000
    /// iterations (any count under a test policy).
    pub fn trusts(&self, stored: &PasswordHash) -> bool {
        stored.iterations >= self.floor
    }

    /// True when `stored` is weaker than (or of another algorithm than) this policy.
    pub fn needs_rehash(&self, stored: &PasswordHash) -> bool {
        stored.algorithm != self.algorithm || stored.iterations < self.iterations
    }
}

/// A stored password hash. Its `Debug` shows the parameters, never the salt or hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    algorithm: Algorithm,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHash {
    /// Parses the PHC string form written by `to_phc_string`.
    pub fn parse(phc: &str) -> Result<Self, Error> {
        let bad = || Error::Internal("stored password hash is malformed".to_owned());
        let mut parts = phc.split('$');
        if parts.next() != Some("") {
            return Err(bad());
        }
        let algorithm = match parts.next() {
            Some("pbkdf2-sha256") => Algorithm::Sha256,
            Some("pbkdf2-sha512") => Algorithm::Sha512,
            _ => return Err(bad()),
        };
        let iterations: u32 = parts
            .next()
            .and_then(|p| p.strip_prefix("i="))
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=MAX_ITERATIONS).contains(n))
            .ok_or_else(bad)?;
        let salt = parts
            .next()
            .and_then(|s| B64.decode(s).ok())
            .ok_or_else(bad)?;
        let hash = parts
            .next()
            .and_then(|s| B64.decode(s).ok())
            .filter(|h| h.len() == algorithm.output_len())
            .ok_or_else(bad)?;
        if parts.next().is_some() || salt.is_empty() {
            return Err(bad());
        }
        Ok(PasswordHash {
            algorithm,
            iterations,
            salt,
            hash,
        })
    }

    /// Its algorithm and iteration count.
    pub fn params(&self) -> PasswordParams {
        PasswordParams {
            algorithm: self.algorithm,
            iterations: self.iterations,
        }
    }

    /// The string stored in the database.
    pub fn to_phc_string(&self) -> String {
        format!(
            "${}$i={}${}${}",
            self.algorithm.phc_id(),
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.hash)
        )
    }

    /// Recomputes the hash of `password` with this hash's parameters and compares in constant
    /// time.
    pub fn verify(&self, password: &Password) -> bool {
        let mut candidate = vec![0u8; self.hash.len()];
        self.algorithm.derive(
            password.as_bytes(),
            &self.salt,
            self.iterations,
            &mut candidate,
        );
        candidate.ct_eq(&self.hash).into()
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PasswordHash({}, i={}, <redacted>)",
            self.algorithm.phc_id(),
            self.iterations
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s).unwrap()
    }

    #[test]
    fn passwords_must_be_8_to_128_characters_after_nfkc() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        // Eight characters that are four bytes each still count as eight.
        assert!(Password::parse(&"😀".repeat(8)).is_ok());
        // A megabyte is refused without normalising it.
        assert!(Password::parse(&"x".repeat(1_000_000)).is_err());
    }

    #[test]
    fn a_password_holding_an_unassigned_code_point_is_refused_whatever_its_length() {
        for bad in [
            "correct horse\u{0378}",
            "\u{FFFF}correct horse",
            "correct\u{E0080}horse",
        ] {
            let err = Password::parse(bad).unwrap_err();
            assert!(err.to_string().contains("not assigned"), "{bad:?}: {err}");
        }
        // Private use is assigned: the Apple logo a Mac keyboard types stays a character.
        assert!(Password::parse("correct horse \u{F8FF}").is_ok());
    }

    #[test]
    fn password_debug_never_shows_the_secret() {
        assert!(!format!("{:?}", pw("hunter2hunter2")).contains("hunter2"));
    }

    #[test]
    fn a_hash_round_trips_through_its_string_and_verifies() {
        let policy = PasswordPolicy::insecure_for_tests(1_000);
        let hash = policy.hash(&pw("correct horse"), [7; SALT_BYTES]);
        let text = hash.to_phc_string();
        assert!(text.starts_with("$pbkdf2-sha256$i=1000$"), "{text}");
        let parsed = PasswordHash::parse(&text).unwrap();
        assert_eq!(parsed, hash);
        assert!(parsed.verify(&pw("correct horse")));
        assert!(!parsed.verify(&pw("correct horsf")));
    }

    #[test]
    fn nfkc_equivalent_passwords_verify() {
        let policy = PasswordPolicy::insecure_for_tests(10);
        let hash = policy.hash(&pw("ｐａｓｓｗｏｒｄ"), [1; SALT_BYTES]);
        assert!(hash.verify(&pw("password")));
    }

    #[test]
    fn sha512_hashes_are_admitted() {
        let policy = PasswordPolicy::new(Algorithm::Sha512, 210_000).unwrap();
        let hash = PasswordPolicy {
            iterations: 100,
            ..policy
        }
        .hash(&pw("longenough"), [3; SALT_BYTES]);
        let parsed = PasswordHash::parse(&hash.to_phc_string()).unwrap();
        assert!(parsed.to_phc_string().starts_with("$pbkdf2-sha512$i=100$"));
        assert!(parsed.verify(&pw("longenough")));
    }

    #[test]
    fn the_default_is_sha512_at_210000_iterations() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy,
            PasswordPolicy::new(Algorithm::Sha512, 210_000).unwrap()
        );
        let old = PasswordPolicy::new(Algorithm::Sha256, 600_000).unwrap();
        assert!(
            policy.needs_rehash(&old.dummy_hash()),
            "SHA-256 hashes move to the default"
        );
    }

    #[test]
    fn weaker_or_other_algorithm_hashes_need_rehash() {
        let current = PasswordPolicy::new(Algorithm::Sha256, 600_000).unwrap();
        let weak = PasswordPolicy::insecure_for_tests(1_000).hash(&pw("longenough"), [0; 16]);
        assert!(current.needs_rehash(&weak));
        let strong = PasswordPolicy {
            iterations: 700_000,
            ..current
        };
        let equal = PasswordHash {
            iterations: 600_000,
            ..weak.clone()
        };
        assert!(!current.needs_rehash(&equal));
        assert!(strong.needs_rehash(&equal));
        let other = PasswordPolicy::new(Algorithm::Sha512, 210_000).unwrap();
        assert!(other.needs_rehash(&equal));
    }

    #[test]
    fn the_dummy_hash_never_verifies_and_has_the_policy_cost() {
        let policy = PasswordPolicy::insecure_for_tests(500);
        let dummy = policy.dummy_hash();
        assert!(!dummy.verify(&pw("longenough")));
        assert!(!policy.needs_rehash(&dummy));
    }

    #[test]
    fn production_policies_refuse_fewer_than_100000_iterations() {
        assert!(PasswordPolicy::new(Algorithm::Sha256, 99_999).is_err());
        assert!(PasswordPolicy::new(Algorithm::Sha256, 100_000).is_ok());
    }

    #[test]
    fn malformed_hash_strings_are_refused() {
        for bad in [
            "",
            "pbkdf2-sha256$i=1$AAAA$AAAA",
            "$argon2id$i=1$AAAA$AAAA",
            "$pbkdf2-sha256$i=0$AAAAAAAA$AAAA",
            "$pbkdf2-sha256$i=1000$!!!$AAAA",
            "$pbkdf2-sha256$i=1000$AAAAAAAA$AAAA",
        ] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad:?}");
        }
    }
}
