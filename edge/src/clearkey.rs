//! W3C ClearKey licences (Encrypted Media Extensions §9.1): a player posts
//! a licence request, `{"kids": ["…"], "type": "temporary"}` (key ids in
//! base64url), to an asset's [`LICENSE_FILE`] and gets the keys it asked
//! for as a JSON Web Key Set, `{"keys": [{"kty": "oct", "kid", "k"}]}`.
//!
//! The origin serves the asset's whole key set as that object (private,
//! never cached, like the HLS key), so the edge checks the signed URL the
//! same way as for any private object, and a standalone edge needs nothing
//! more from its origin than a GET.

use serde::Deserialize;

use crate::EdgeError;

/// The licence's object name, beside the MPD.
pub const LICENSE_FILE: &str = "clearkey.json";
/// Largest licence request read: a request names a few key ids.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Most key ids one request may name.
const MAX_KIDS: usize = 64;

#[derive(Debug, Deserialize)]
struct LicenseRequest {
    kids: Vec<String>,
    #[serde(rename = "type", default)]
    session_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The licence for `request` (a player's licence request body) from
/// `key_set` (the origin's object): the keys whose `kid` was asked for.
pub fn answer(key_set: &[u8], request: &[u8]) -> Result<Vec<u8>, EdgeError> {
    let request: LicenseRequest = serde_json::from_slice(request).map_err(|e| {
        EdgeError::BadRequest(format!(
            "a ClearKey licence request is JSON {{\"kids\": [\"KEY ID in base64url\"], \"type\": \"temporary\"}}: {e}"
        ))
    })?;
    if request.kids.is_empty() || request.kids.len() > MAX_KIDS || request.kids.iter().any(|k| k.len() > 64) {
        return Err(EdgeError::BadRequest(format!(
            "a ClearKey licence request names 1 to {MAX_KIDS} key ids of at most 64 characters"
        )));
    }
    let set: KeySet = serde_json::from_slice(key_set)
        .map_err(|e| EdgeError::BadOrigin(format!("the origin's ClearKey key set is not valid: {e}")))?;
    let wanted = |key: &serde_json::Map<String, serde_json::Value>| {
        key.get("kid").and_then(|k| k.as_str()).is_some_and(|kid| request.kids.iter().any(|w| w == kid))
    };
    let keys: Vec<_> = set.keys.into_iter().filter(wanted).collect();
    if keys.is_empty() {
        return Err(EdgeError::NotFound(format!(
            "this asset has no key with id {}: its key id is the MPD's cenc:default_KID",
            request.kids.join(", ")
        )));
    }
    let session_type = request.session_type.unwrap_or_else(|| "temporary".into());
    Ok(serde_json::json!({ "keys": keys, "type": session_type }).to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &[u8] = br#"{"keys":[{"kty":"oct","kid":"AAECAwQFBgcICQoLDA0ODw","k":"EBESExQVFhcYGRobHB0eHw"}],"type":"temporary"}"#;

    #[test]
    fn a_request_gets_the_keys_it_names() {
        let licence =
            answer(SET, br#"{"kids":["AAECAwQFBgcICQoLDA0ODw"],"type":"temporary"}"#).expect("licence");
        let licence: serde_json::Value = serde_json::from_slice(&licence).expect("JSON");
        assert_eq!(licence["keys"][0]["k"], "EBESExQVFhcYGRobHB0eHw");
        assert_eq!(licence["keys"][0]["kty"], "oct");
        assert_eq!(licence["type"], "temporary");
        let other = answer(SET, br#"{"kids":["ZZZZ"]}"#).expect_err("unknown key id");
        assert!(matches!(&other, EdgeError::NotFound(m) if m.contains("cenc:default_KID")), "{other}");
        for bad in [&b"nonsense"[..], br#"{"kids":[]}"#, br#"{"kids":"x"}"#, br#"{}"#] {
            let error = answer(SET, bad).expect_err("refused");
            assert!(matches!(error, EdgeError::BadRequest(_)), "{error}");
        }
        assert!(matches!(answer(b"<html>", br#"{"kids":["a"]}"#), Err(EdgeError::BadOrigin(_))));
    }
}
