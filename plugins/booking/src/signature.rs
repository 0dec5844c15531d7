//! The signature on the TEST provider's webhooks, shaped like Stripe's:
//! header `Test-Payments-Signature: t=UNIX_SECONDS,v1=HEX`, where HEX is
//! HMAC-SHA256 over `"{t}.{body}"` with the webhook secret. The timestamp
//! inside the signed text stops replays of an old event past the tolerance;
//! the comparison is constant-time so the check reveals nothing of the
//! expected value.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header the provider signs its webhooks in.
pub const HEADER: &str = "test-payments-signature";

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)))
}

/// Checks a header value against `body`; the error is a sentence for the sender.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), String> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("the signature header has no t=UNIX_SECONDS")?;
    if signatures.is_empty() {
        return Err("the signature header has no v1=HEX signature".into());
    }
    let expected = mac(secret, timestamp, body);
    if !signatures.iter().any(|s| bool::from(s.as_slice().ct_eq(&expected))) {
        return Err("the webhook signature does not match its body and the configured webhook secret".into());
    }
    if (now_secs - timestamp).abs() > tolerance_secs {
        return Err(format!(
            "the webhook was signed at {timestamp}, more than {tolerance_secs} s from now ({now_secs}); it is refused as a replay"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_its_body_secret_and_age() {
        let header = sign("whsec_test_secret", 1000, b"{\"id\":1}");
        assert_eq!(verify("whsec_test_secret", &header, b"{\"id\":1}", 1010, 300), Ok(()));
        assert!(verify("whsec_test_secret", &header, b"{\"id\":2}", 1010, 300)
            .unwrap_err()
            .contains("does not match"));
        assert!(verify("another_secret!!", &header, b"{\"id\":1}", 1010, 300).is_err());
        assert!(verify("whsec_test_secret", &header, b"{\"id\":1}", 2000, 300)
            .unwrap_err()
            .contains("replay"));
        assert!(verify("whsec_test_secret", "v1=00", b"", 0, 300).unwrap_err().contains("t="));
    }
}
