//! Signed-URL tokens and key specs (cdlc_edge::signing).
#![no_main]

use cdlc_edge::{SignatureError, SigningKeys};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let keys = SigningKeys::parse("k2:0123456789abcdef-new,k1:0123456789abcdef-old").expect("keys");
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The input is `asset|token` (or only a token, for asset "a1").
    let (asset, token) = text.split_once('|').unwrap_or(("a1", text));

    // A token that verifies is exactly the one the first or second key
    // signed for this asset: nothing else passes, however it is spelled.
    if keys.verify(asset, token, NOW).is_ok() {
        let expires: u64 =
            token.split('.').nth(1).and_then(|e| e.parse().ok()).expect("verified: has expires");
        assert!(expires > NOW, "an expired token verified: {token}");
        let resigned = ["k2", "k1"].iter().find(|id| token.starts_with(&format!("{id}."))).map(|id| {
            let spec = format!("{id}:0123456789abcdef-{}", if *id == "k2" { "new" } else { "old" });
            SigningKeys::parse(&spec).unwrap().sign(asset, expires).unwrap()
        });
        assert_eq!(resigned.as_deref(), Some(token), "verified a token no key signed");
    }

    // A token signed for the asset verifies for it (until it expires) and
    // for no other asset.
    let expires = text.len() as u64 * 7919 + NOW - 5_000;
    let signed = keys.sign(asset, expires).expect("a key signs");
    let verdict = keys.verify(asset, &signed, NOW);
    assert_eq!(verdict, if expires > NOW { Ok(()) } else { Err(SignatureError::Expired) }, "{signed}");
    let other = format!("{asset}x");
    assert_eq!(keys.verify(&other, &signed, NOW), Err(SignatureError::BadSignature));

    // Key specs: refused with a reason, or keys that sign and verify.
    if let Ok(parsed) = SigningKeys::parse(text) {
        if let Some(token) = parsed.sign("a1", NOW + 60) {
            assert_eq!(parsed.verify("a1", &token, NOW), Ok(()), "spec {text:?}");
        }
    }
});
