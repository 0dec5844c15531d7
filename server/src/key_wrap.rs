//! Content keys and the master keys that wrap them.
//!
//! An encrypted asset has one content key, 16 random bytes, the AES-128 key
//! of its HLS segments ([`ContentKey::encrypt_segment`]: CBC with PKCS#7
//! padding, RFC 8216 §5.2) and of its DASH segments ([`ContentKey::cenc`]:
//! CENC, AES-CTR, with a key id derived from the key). It is kept only wrapped ([`WrappedKey`]): sealed
//! with AES-256-GCM under a master key from the config, with a fresh 96-bit
//! nonce, and the asset's id as associated data, so a record copied onto
//! another asset does not open.
//!
//! A master key is named by its id, the first 8 hex digits of a SHA-256 of
//! it (never the key itself), and every record says which master key sealed
//! it. Rotation: make the new key `encryption_master_key` and move the old
//! one into `encryption_previous_master_keys`; a record sealed under an old
//! key still opens, and is sealed again under the new one the first time it
//! is read ([`MasterKeys::needs_rewrap`]). Once every record is re-wrapped
//! the old key can go.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes of a content key (AES-128).
pub const CONTENT_KEY_LEN: usize = 16;
/// Bytes of a master key (AES-256).
pub const MASTER_KEY_LEN: usize = 32;
/// The version of [`WrappedKey`] this build writes and reads.
const RECORD_VERSION: u32 = 1;

/// Why a key could not be made, read or opened; each says what to check.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{what} must be 64 hexadecimal digits (32 bytes), for example from `openssl rand -hex 32`")]
    BadMasterKey { what: String },
    #[error("master key {0} is given twice")]
    DuplicateMasterKey(String),
    #[error(
        "the content key of asset {asset} is wrapped under master key {id}, which this server does not \
         have: add that key to encryption_previous_master_keys"
    )]
    UnknownMasterKey { asset: String, id: String },
    #[error(
        "the content key of asset {asset} does not open under master key {id}: it was wrapped with \
         another key of the same id, or the record is damaged"
    )]
    DoesNotOpen { asset: String, id: String },
    #[error("the content key record of asset {asset} is not valid: {reason}")]
    BadRecord { asset: String, reason: String },
    #[error("the system's random number generator failed")]
    Random,
}

/// One master key and its id.
pub struct MasterKey {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl MasterKey {
    /// From 64 hex digits; `what` names the setting in the error.
    pub fn from_hex(hex_text: &str, what: &str) -> Result<MasterKey, KeyError> {
        let bad = || KeyError::BadMasterKey { what: what.to_owned() };
        let bytes = hex::decode(hex_text.trim()).map_err(|_| bad())?;
        if bytes.len() != MASTER_KEY_LEN {
            return Err(bad());
        }
        let digest = Sha256::new_with_prefix(b"cdlc-master-key-id\n").chain_update(&bytes).finalize();
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| bad())?;
        Ok(MasterKey { id: hex::encode(&digest[..4]), key: LessSafeKey::new(key) })
    }

    /// 64 new random hex digits, for a master key generated on first start.
    pub fn generate_hex() -> Result<String, KeyError> {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        SystemRandom::new().fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(hex::encode(bytes))
    }
}

/// The master key that wraps (the current one) and the ones that still unwrap.
#[derive(Debug)]
pub struct MasterKeys {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl MasterKeys {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Result<MasterKeys, KeyError> {
        let mut ids = vec![current.id.as_str()];
        for key in &previous {
            if ids.contains(&key.id.as_str()) {
                return Err(KeyError::DuplicateMasterKey(key.id.clone()));
            }
            ids.push(&key.id);
        }
        Ok(MasterKeys { current, previous })
    }

    /// `current` (64 hex digits) and `previous`, a comma-separated list of
    /// the same (may be empty).
    pub fn parse(current: &str, previous: &str) -> Result<MasterKeys, KeyError> {
        let current = MasterKey::from_hex(current, "encryption_master_key")?;
        let previous = previous
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|hex_text| MasterKey::from_hex(hex_text, "each of encryption_previous_master_keys"))
            .collect::<Result<Vec<_>, _>>()?;
        MasterKeys::new(current, previous)
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `key` for `asset` under the current master key.
    pub fn wrap(&self, asset: &str, key: &ContentKey) -> Result<WrappedKey, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| KeyError::Random)?;
        let mut sealed = key.0.to_vec();
        self.current
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(asset), &mut sealed)
            // Sealing fails only above GCM's length limit; 16 bytes are far below it.
            .map_err(|_| KeyError::Random)?;
        Ok(WrappedKey {
            version: RECORD_VERSION,
            master_key: self.current.id.clone(),
            nonce: hex::encode(nonce),
            sealed: hex::encode(sealed),
        })
    }

    /// Opens the record of `asset`, under whichever master key sealed it.
    pub fn unwrap(&self, asset: &str, record: &WrappedKey) -> Result<ContentKey, KeyError> {
        let bad = |reason: &str| KeyError::BadRecord { asset: asset.to_owned(), reason: reason.to_owned() };
        if record.version != RECORD_VERSION {
            return Err(bad(&format!("version {} is not {RECORD_VERSION}", record.version)));
        }
        let master = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == record.master_key)
            .ok_or_else(|| KeyError::UnknownMasterKey {
                asset: asset.to_owned(),
                id: record.master_key.clone(),
            })?;
        let nonce: [u8; NONCE_LEN] = hex::decode(&record.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| bad("the nonce is not 12 bytes of hex"))?;
        let mut sealed = hex::decode(&record.sealed).map_err(|_| bad("the sealed key is not hex"))?;
        let does_not_open = || KeyError::DoesNotOpen { asset: asset.to_owned(), id: master.id.clone() };
        let opened = master
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), aad(asset), &mut sealed)
            .map_err(|_| does_not_open())?;
        let key: [u8; CONTENT_KEY_LEN] = (&*opened).try_into().map_err(|_| does_not_open())?;
        Ok(ContentKey(key))
    }

    /// Whether `record` is sealed under an older master key than the current one.
    pub fn needs_rewrap(&self, record: &WrappedKey) -> bool {
        record.master_key != self.current.id
    }
}

fn aad(asset: &str) -> Aad<Vec<u8>> {
    Aad::from(format!("cdlc-content-key\n{asset}").into_bytes())
}

/// A content key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    pub version: u32,
    /// The id of the master key that sealed it.
    pub master_key: String,
    /// The GCM nonce, hex.
    pub nonce: String,
    /// The content key sealed, with its 16-byte tag, hex.
    pub sealed: String,
}

/// An asset's AES-128 key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ContentKey([u8; CONTENT_KEY_LEN]);

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

impl ContentKey {
    pub fn generate() -> Result<ContentKey, KeyError> {
        let mut key = [0u8; CONTENT_KEY_LEN];
        SystemRandom::new().fill(&mut key).map_err(|_| KeyError::Random)?;
        Ok(ContentKey(key))
    }

    /// The 16 bytes an HLS player fetches from the key URI.
    pub fn bytes(&self) -> &[u8; CONTENT_KEY_LEN] {
        &self.0
    }

    /// The segment whose media sequence number is `sequence`, encrypted as
    /// RFC 8216 §5.2 says for METHOD=AES-128: AES-128-CBC, PKCS#7 padding,
    /// the IV `sequence` as a 128-bit big-endian number (the playlist gives
    /// the same IV explicitly).
    pub fn encrypt_segment(&self, sequence: u64, plain: &[u8]) -> Vec<u8> {
        self.encrypt_cbc(u128::from(sequence), plain)
    }

    /// The key as DASH's CENC uses it, with its key id: the first 16 bytes
    /// of an HMAC-SHA256 of a label under the key. It needs no storage, it
    /// names this key and no other (a new content key gets a new id, so a
    /// player's remembered licence never meets the wrong key), and it tells
    /// nothing of the key.
    pub fn cenc(&self) -> cdlc_packager::cenc::Key {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(b"cdlc cenc key id v1");
        let digest = mac.finalize().into_bytes();
        let mut kid = [0u8; 16];
        kid.copy_from_slice(&digest[..16]);
        cdlc_packager::cenc::Key { kid, key: self.0 }
    }

    fn encrypt_cbc(&self, iv: u128, plain: &[u8]) -> Vec<u8> {
        use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
        cbc::Encryptor::<aes::Aes128>::new(&self.0.into(), &iv.to_be_bytes().into())
            .encrypt_padded_vec_mut::<Pkcs7>(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const B: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";

    fn keys(current: &str, previous: &str) -> MasterKeys {
        MasterKeys::parse(current, previous).expect("master keys")
    }

    #[test]
    fn a_wrapped_key_opens_only_for_its_asset_under_its_master_key() {
        let masters = keys(A, "");
        let key = ContentKey::generate().expect("random");
        let record = masters.wrap("asset-1", &key).expect("wrap");
        assert_eq!(masters.unwrap("asset-1", &record).expect("unwrap"), key);
        assert!(!record.sealed.contains(&hex::encode(key.bytes())), "the record does not hold the key");
        assert_ne!(
            masters.wrap("asset-1", &key).expect("wrap").nonce,
            record.nonce,
            "a fresh nonce each time"
        );

        let moved = masters.unwrap("asset-2", &record).expect_err("another asset's record");
        assert!(moved.to_string().contains("does not open"), "{moved}");

        let other = keys(B, "");
        let unknown = other.unwrap("asset-1", &record).expect_err("wrong master key");
        assert!(
            matches!(&unknown, KeyError::UnknownMasterKey { id, .. } if id == masters.current_id()),
            "{unknown}"
        );
        assert!(unknown.to_string().contains("encryption_previous_master_keys"), "{unknown}");

        let mut damaged = record.clone();
        let flipped = if damaged.sealed.starts_with('0') { "1" } else { "0" };
        damaged.sealed.replace_range(0..1, flipped);
        assert!(matches!(masters.unwrap("asset-1", &damaged), Err(KeyError::DoesNotOpen { .. })));
        let bad_nonce = WrappedKey { nonce: "00".into(), ..record.clone() };
        assert!(masters.unwrap("asset-1", &bad_nonce).unwrap_err().to_string().contains("nonce"));
        let future = WrappedKey { version: 2, ..record };
        assert!(masters.unwrap("asset-1", &future).unwrap_err().to_string().contains("version 2"));
    }

    #[test]
    fn rotation_opens_old_records_and_rewraps_them_under_the_new_key() {
        let old = keys(A, "");
        let key = ContentKey::generate().expect("random");
        let record = old.wrap("asset-1", &key).expect("wrap");
        let rotated = keys(B, A);
        assert!(rotated.needs_rewrap(&record));
        assert_eq!(rotated.unwrap("asset-1", &record).expect("old key still opens"), key);
        let rewrapped = rotated.wrap("asset-1", &key).expect("wrap");
        assert!(!rotated.needs_rewrap(&rewrapped));
        assert_eq!(keys(B, "").unwrap("asset-1", &rewrapped).expect("new key alone"), key);
    }

    #[test]
    fn bad_master_keys_say_what_to_set() {
        for bad in ["", "abc", &A[..62], &format!("{A}00"), &A.replace('0', "g")] {
            let error = MasterKeys::parse(bad, "").expect_err(bad);
            assert!(error.to_string().contains("encryption_master_key must be 64 hexadecimal"), "{error}");
        }
        let error = MasterKeys::parse(A, "nonsense").expect_err("bad previous key");
        assert!(error.to_string().contains("encryption_previous_master_keys"), "{error}");
        assert!(matches!(MasterKeys::parse(A, A), Err(KeyError::DuplicateMasterKey(_))));
        let generated = MasterKey::generate_hex().expect("random");
        assert_eq!(MasterKeys::parse(&generated, "").expect("valid").current_id().len(), 8);
        assert_ne!(generated, MasterKey::generate_hex().expect("random"));
    }

    #[test]
    fn segments_are_aes_128_cbc_with_the_sequence_number_as_iv() {
        use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
        // RFC 3602 §4 case 1: AES-128-CBC of "Single block msg" with this key and IV.
        let key = ContentKey(hex::decode("06a9214036b8a15b512e03d534120006").unwrap().try_into().unwrap());
        let iv =
            u128::from_be_bytes(hex::decode("3dafba429d9eb430b422da802c9fac41").unwrap().try_into().unwrap());
        let sealed = key.encrypt_cbc(iv, b"Single block msg");
        assert_eq!(hex::encode(&sealed[..16]), "e353779c1079aeb82708942dbe77181a");
        assert_eq!(sealed.len(), 32, "PKCS#7 adds a whole block to a full one");

        let segment = b"\0\0\0\x18stypmsdh\0\0\0\0msdhmsix and some media".to_vec();
        let encrypted = key.encrypt_segment(7, &segment);
        assert_eq!(encrypted.len() % 16, 0);
        assert_ne!(&encrypted[4..8], b"styp");
        let decrypted = cbc::Decryptor::<aes::Aes128>::new(&key.0.into(), &7u128.to_be_bytes().into())
            .decrypt_padded_vec_mut::<Pkcs7>(&encrypted)
            .expect("decrypts");
        assert_eq!(decrypted, segment);
        assert_ne!(key.encrypt_segment(8, &segment), encrypted, "each sequence number its own IV");
    }
}
