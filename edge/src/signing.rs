//! Signed URLs for private assets.
//!
//! A token is `{key_id}.{expires}.{signature}`: `expires` in Unix seconds,
//! `signature` the hex HMAC-SHA256, under the key named `key_id`, of
//! `cdlc-stream\n{asset}\n{expires}`. It is scoped to one asset (every path
//! under `/streams/{asset}/~{token}/`) and checked in constant time. Two keys
//! (or more) can be valid at once, so a key is rotated by adding the new one
//! first, waiting for the old URLs to expire, then removing the old one.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// One named key.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn new(id: &str, secret: &str) -> Result<SigningKey, SignatureError> {
        let id_ok = (1..=32).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(SignatureError::BadKeySpec(format!(
                "key id {id:?} must be 1-32 letters, digits, '_' or '-'"
            )));
        }
        if secret.len() < MIN_SECRET_LEN {
            return Err(SignatureError::BadKeySpec(format!(
                "the secret of key {id:?} must be at least {MIN_SECRET_LEN} characters"
            )));
        }
        Ok(SigningKey { id: id.to_owned(), secret: secret.as_bytes().to_vec() })
    }

    fn mac(&self, asset: &str, expires: u64) -> HmacSha256 {
        // new_from_slice accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        mac.update(format!("cdlc-stream\n{asset}\n{expires}").as_bytes());
        mac
    }
}

/// The keys of an edge: the first signs, all of them verify.
#[derive(Debug, Clone, Default)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

/// Why a token was refused (each answers 403), or a key spec is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signed URL is malformed: expected ~KEY.EXPIRES.SIGNATURE")]
    Malformed,
    #[error("the signed URL names a key this edge does not know")]
    UnknownKey,
    #[error("the signed URL has expired; ask for a new one")]
    Expired,
    #[error("the signed URL's signature does not match this asset")]
    BadSignature,
    #[error("signing keys: {0}")]
    BadKeySpec(String),
}

impl SigningKeys {
    pub fn new(keys: Vec<SigningKey>) -> Result<SigningKeys, SignatureError> {
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(SignatureError::BadKeySpec(format!("key id {:?} appears twice", key.id)));
            }
        }
        Ok(SigningKeys { keys })
    }

    /// Parses `id:secret,id:secret` (the first signs). An empty string is no key.
    pub fn parse(spec: &str) -> Result<SigningKeys, SignatureError> {
        let keys = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (id, secret) = pair.split_once(':').ok_or_else(|| {
                    SignatureError::BadKeySpec("write each key as ID:SECRET, separated by commas".into())
                })?;
                SigningKey::new(id.trim(), secret.trim())
            })
            .collect::<Result<Vec<_>, _>>()?;
        SigningKeys::new(keys)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A token for `asset` until `expires` (Unix seconds), by the first key.
    pub fn sign(&self, asset: &str, expires: u64) -> Option<String> {
        let key = self.keys.first()?;
        let signature = hex::encode(key.mac(asset, expires).finalize().into_bytes());
        Some(format!("{}.{expires}.{signature}", key.id))
    }

    /// Checks `token` for `asset` at `now` (Unix seconds).
    pub fn verify(&self, asset: &str, token: &str, now: u64) -> Result<(), SignatureError> {
        let mut parts = token.splitn(3, '.');
        let (Some(id), Some(expires), Some(signature)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SignatureError::Malformed);
        };
        // One spelling per token (no sign, leading zero or upper-case hex), so
        // a verified token is exactly the one that was signed.
        let canonical_expires = !expires.is_empty()
            && expires.bytes().all(|b| b.is_ascii_digit())
            && (expires == "0" || !expires.starts_with('0'));
        let canonical_signature = signature.len() == 64
            && signature.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !canonical_expires || !canonical_signature {
            return Err(SignatureError::Malformed);
        }
        let expires: u64 = expires.parse().map_err(|_| SignatureError::Malformed)?;
        let signature = hex::decode(signature).map_err(|_| SignatureError::Malformed)?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or(SignatureError::UnknownKey)?;
        // The signature first, so an expired token tells nothing about a forged one.
        key.mac(asset, expires).verify_slice(&signature).map_err(|_| SignatureError::BadSignature)?;
        if expires <= now {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: &str) -> SigningKeys {
        SigningKeys::parse(spec).expect("keys")
    }

    #[test]
    fn tokens_are_scoped_timed_and_rotatable() {
        let old = keys("k1:0123456789abcdef-old");
        let both = keys("k2:0123456789abcdef-new,k1:0123456789abcdef-old");
        let token = old.sign("asset-a", 2_000).expect("a key");
        assert_eq!(old.verify("asset-a", &token, 1_000), Ok(()));
        assert_eq!(both.verify("asset-a", &token, 1_000), Ok(()), "the old key still verifies");
        assert_eq!(old.verify("asset-b", &token, 1_000), Err(SignatureError::BadSignature));
        assert_eq!(old.verify("asset-a", &token, 2_000), Err(SignatureError::Expired));
        let tampered = token.replace(".2000.", ".9000.");
        assert_eq!(old.verify("asset-a", &tampered, 1_000), Err(SignatureError::BadSignature));
        let new_token = both.sign("asset-a", 2_000).expect("a key");
        assert!(new_token.starts_with("k2."), "the first key signs");
        assert_eq!(old.verify("asset-a", &new_token, 1_000), Err(SignatureError::UnknownKey));
        assert_eq!(old.verify("asset-a", "nonsense", 1_000), Err(SignatureError::Malformed));
        for respelled in
            [token.replace(".2000.", ".+2000."), token.replace(".2000.", ".02000."), token.to_uppercase()]
        {
            assert_eq!(
                old.verify("asset-a", &respelled, 1_000),
                Err(SignatureError::Malformed),
                "{respelled}"
            );
        }
    }

    #[test]
    fn bad_key_specs_say_what_to_fix() {
        assert!(SigningKeys::parse("k1").unwrap_err().to_string().contains("ID:SECRET"));
        assert!(SigningKeys::parse("k1:short").unwrap_err().to_string().contains("16"));
        assert!(SigningKeys::parse("k/1:0123456789abcdef").unwrap_err().to_string().contains("letters"));
        let twice = "k1:0123456789abcdef,k1:0123456789abcdeg";
        assert!(SigningKeys::parse(twice).unwrap_err().to_string().contains("twice"));
        assert!(SigningKeys::parse("").expect("no keys").is_empty());
    }
}
