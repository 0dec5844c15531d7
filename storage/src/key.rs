use crate::StorageError;

/// Longest key accepted (S3's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Checks that `key` is a relative, slash-separated path of plain segments,
/// so that no key can name a file outside the store.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let invalid = |reason| Err(StorageError::InvalidKey { key: key.chars().take(200).collect(), reason });
    if key.is_empty() {
        return invalid("it is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return invalid("it is longer than 1024 bytes");
    }
    if key.starts_with('/') || key.ends_with('/') {
        return invalid("it starts or ends with /");
    }
    for segment in key.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return invalid("it has an empty, . or .. segment");
        }
        if segment.starts_with(".tmp-") {
            return invalid("segments starting with .tmp- are reserved");
        }
        // `=` for the `name=value` partition folders of a data lake (Hive's
        // layout, which query engines read as columns).
        if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=')) {
            return invalid("only letters, digits, - _ . = and / are allowed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_store() {
        for good in
            ["sources/abc/original", "streams/a/720p/00001.m4s", "x", "lake/landing/day=2026-11-01/a.ndjson"]
        {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in
            ["", "/etc/passwd", "a/../b", "../x", "a//b", "a/", "a/./b", "a b", "a\\b", "é", "a/.tmp-1"]
        {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_key(&"a".repeat(1025)).is_err());
    }
}
