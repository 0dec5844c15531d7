//! Passwords and tokens: what is stored is never what the client holds.
//!
//! - Passwords: argon2id, OWASP's parameters (m = 19456 KiB, t = 2, p = 1),
//!   in PHC strings, so a later change of parameters still verifies old
//!   hashes (they carry their own) and `needs_rehash` says when to upgrade.
//! - Session tokens: `cdlc_s_` + 32 random bytes in hex; stored as the hex
//!   SHA-256 of the whole token and looked up by that hash. A 256-bit random
//!   token needs no slow hash: nobody can guess one to test against a leak.
//! - API keys: `cdlc_k_{prefix}_{secret}`: the 12-hex-digit prefix is shown in
//!   listings and finds the row; the 64-hex-digit secret is shown once and
//!   stored as its SHA-256, compared in constant time.
//! - CSRF tokens: the SHA-256 of the session token under a label, so the
//!   server stores nothing for them and they end with the session.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const SESSION_PREFIX: &str = "cdlc_s_";
pub const KEY_PREFIX: &str = "cdlc_k_";
const KEY_ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;

/// OWASP's argon2id recommendation (Password Storage Cheat Sheet).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM, None)
        .unwrap_or_else(|_| unreachable!("the constants are valid argon2 parameters"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator failing is not something to carry on from.
    getrandom::fill(&mut bytes)
        .unwrap_or_else(|e| panic!("the operating system's random generator failed: {e}"));
    bytes
}

/// The PHC string of `password`. Slow on purpose (~tens of ms): call it off
/// the async runtime.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .unwrap_or_else(|_| unreachable!("16 bytes make a valid salt"));
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .unwrap_or_else(|e| unreachable!("hashing with valid parameters cannot fail: {e}"))
        .to_string()
}

/// Whether `password` matches the PHC string (compared in constant time by
/// the argon2 crate). A malformed stored hash matches nothing.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => argon2().verify_password(password.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification, for a sign-in naming no account,
/// so the answer's timing does not tell which handles exist.
pub fn burn_verification(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("a password nobody has"));
    let _ = verify_password(dummy, password);
}

/// Whether the hash was made with other parameters than today's.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return true };
    let Ok(params) = Params::try_from(&hash) else { return true };
    hash.algorithm.as_str() != "argon2id"
        || params.m_cost() != ARGON2_MEMORY_KIB
        || params.t_cost() != ARGON2_ITERATIONS
        || params.p_cost() != ARGON2_PARALLELISM
}

/// The hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A new session token and the hash to store.
pub fn new_session_token() -> (String, String) {
    let token = format!("{SESSION_PREFIX}{}", hex::encode(random_bytes::<32>()));
    let hash = sha256_hex(&token);
    (token, hash)
}

/// Whether `token` has the shape of a session token.
pub fn is_session_token(token: &str) -> bool {
    token.strip_prefix(SESSION_PREFIX).is_some_and(|hex| hex.len() == SECRET_HEX && is_hex(hex))
}

/// The CSRF token of a session token.
pub fn csrf_token(session_token: &str) -> String {
    sha256_hex(&format!("cdlc-csrf\n{session_token}"))
}

/// Constant-time equality of two strings.
pub fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A new API key: (the whole key shown once, its prefix, the secret's hash).
pub fn new_api_key() -> (String, String, String) {
    let prefix = hex::encode(random_bytes::<{ KEY_ID_HEX / 2 }>());
    let secret = hex::encode(random_bytes::<32>());
    (format!("{KEY_PREFIX}{prefix}_{secret}"), prefix, sha256_hex(&secret))
}

/// Splits an API key into (prefix, secret), or `None` when it is malformed.
pub fn parse_api_key(key: &str) -> Option<(&str, &str)> {
    let (prefix, secret) = key.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    (prefix.len() == KEY_ID_HEX && is_hex(prefix) && secret.len() == SECRET_HEX && is_hex(secret))
        .then_some((prefix, secret))
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_to_argon2id_phc_strings_at_owasp_parameters() {
        let phc = hash_password("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(&phc, "correct horse battery"));
        assert!(!verify_password(&phc, "correct horse batterY"));
        assert!(!verify_password("not a hash", "x"));
        assert_ne!(phc, hash_password("correct horse battery"), "salted");
        assert!(!needs_rehash(&phc));
        let weaker = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap())
            .hash_password(b"pw", &SaltString::encode_b64(&[7; 16]).unwrap())
            .unwrap()
            .to_string();
        assert!(verify_password(&weaker, "pw"), "old parameters still verify");
        assert!(needs_rehash(&weaker));
    }

    #[test]
    fn tokens_are_random_shaped_and_stored_hashed() {
        let (token, hash) = new_session_token();
        assert!(is_session_token(&token) && !token.contains(&hash));
        assert_eq!(hash, sha256_hex(&token));
        assert_ne!(new_session_token().0, token);
        assert!(!is_session_token("cdlc_s_123"));
        let (key, prefix, secret_hash) = new_api_key();
        let (p, secret) = parse_api_key(&key).expect("parses");
        assert_eq!((p, sha256_hex(secret)), (prefix.as_str(), secret_hash));
        for bad in ["cdlc_k_", "cdlc_k_abc_def", &key[..key.len() - 1], &key.replace("cdlc_k_", "cdlc_x_")] {
            assert!(parse_api_key(bad).is_none(), "{bad}");
        }
        assert!(
            same(&csrf_token(&token), &csrf_token(&token)) && !same(&csrf_token(&token), &csrf_token("x"))
        );
    }
}
