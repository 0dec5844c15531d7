//! `Authorization: Bearer TOKEN`: the one reading of the header for the
//! edge's purge API and the server's API alike.

use axum::http::{header, HeaderMap};

/// The token of an `Authorization: Bearer` header (the scheme in any case,
/// RFC 9110 §11.1), trimmed; `None` without one.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Whether the request carries `expected` as its bearer token, compared in
/// time that does not depend on where the two differ (so the answer's time
/// tells nothing of the token). An empty `expected` matches nothing.
pub fn carries(headers: &HeaderMap, expected: &str) -> bool {
    !expected.is_empty()
        && token(headers).is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().expect("header"));
        headers
    }

    #[test]
    fn only_the_exact_token_after_bearer_is_accepted() {
        let token = "0123456789abcdef";
        assert!(carries(&headers("Bearer 0123456789abcdef"), token));
        assert!(carries(&headers("bearer  0123456789abcdef "), token), "the scheme ignores case");
        assert!(!carries(&headers("Bearer 0123456789abcdeg"), token));
        assert!(!carries(&headers("Bearer 0123456789abcde"), token), "a prefix is not the token");
        assert!(!carries(&headers("Basic 0123456789abcdef"), token));
        assert!(!carries(&headers("Bearer "), ""), "an empty token never matches");
        assert!(!carries(&HeaderMap::new(), token));
    }
}
