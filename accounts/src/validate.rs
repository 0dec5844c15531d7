//! Input bounds, each refusal a sentence that says what to fix.

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 80;
/// Longest bio, in characters.
pub const MAX_BIO: usize = 1000;
/// Password length bounds, in characters. The upper bound keeps a hash
/// request from becoming a denial of service.
pub const MIN_PASSWORD: usize = 10;
pub const MAX_PASSWORD: usize = 256;
/// Longest email (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// Longest API key name.
pub const MAX_KEY_NAME: usize = 80;
/// Longest avatar object key.
pub const MAX_AVATAR_KEY: usize = 200;
/// Oldest maturity limit (an age in years).
pub const MAX_MATURITY: u8 = 21;

/// A handle, lower-cased: 3–30 of a–z, 0–9 and `_`.
pub fn handle(input: &str) -> Result<String, String> {
    let handle = input.trim().to_ascii_lowercase();
    let length = handle.chars().count();
    if !(3..=30).contains(&length) {
        return Err(format!("the handle must be 3 to 30 characters long; {input:?} has {length}"));
    }
    if let Some(bad) = handle.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
        return Err(format!("the handle may hold only letters a-z, digits and '_'; {bad:?} is not allowed"));
    }
    Ok(handle)
}

/// An email address of the usual shape: `local@domain.tld`, no spaces.
pub fn email(input: &str) -> Result<String, String> {
    let email = input.trim();
    let refuse = || Err(format!("{email:?} is not an email address; write it as name@example.com"));
    if email.len() > MAX_EMAIL {
        return Err(format!("the email address must be at most {MAX_EMAIL} characters"));
    }
    let Some((local, domain)) = email.rsplit_once('@') else { return refuse() };
    let printable = |s: &str| s.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '@');
    let domain_ok = domain.len() >= 3
        && domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    if local.is_empty() || local.len() > 64 || !printable(local) || !domain_ok {
        return refuse();
    }
    Ok(email.to_owned())
}

/// The lower-cased form that uniqueness is checked on.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

pub fn display_name(input: &str) -> Result<String, String> {
    let name = input.trim();
    bounded("the display name", name, 1, MAX_DISPLAY_NAME)?;
    Ok(name.to_owned())
}

pub fn bio(input: &str) -> Result<String, String> {
    bounded("the bio", input, 0, MAX_BIO)?;
    Ok(input.to_owned())
}

pub fn password(input: &str) -> Result<(), String> {
    let length = input.chars().count();
    if length < MIN_PASSWORD {
        return Err(format!("the password must be at least {MIN_PASSWORD} characters; it has {length}"));
    }
    if length > MAX_PASSWORD {
        return Err(format!("the password must be at most {MAX_PASSWORD} characters"));
    }
    Ok(())
}

/// A language tag (BCP 47 shape): `en`, `pt-BR`, `zh-Hant-TW`.
pub fn language(input: &str) -> Result<String, String> {
    let ok = (2..=35).contains(&input.len())
        && input
            .split('-')
            .all(|part| (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric()))
        && input
            .split('-')
            .next()
            .is_some_and(|p| p.len() >= 2 && p.chars().all(|c| c.is_ascii_alphabetic()));
    if ok {
        Ok(input.to_owned())
    } else {
        Err(format!("{input:?} is not a language tag; use one such as en, fr or pt-BR"))
    }
}

pub fn maturity_limit(age: Option<u8>) -> Result<Option<u8>, String> {
    match age {
        Some(age) if age > MAX_MATURITY => {
            Err(format!("the maturity limit is an age from 0 to {MAX_MATURITY}, or null for none"))
        }
        other => Ok(other),
    }
}

/// An object key under `avatars/`, as the upload of an avatar returns it.
pub fn avatar_key(input: &str) -> Result<String, String> {
    let ok = input.starts_with("avatars/")
        && input.len() <= MAX_AVATAR_KEY
        && !input.contains("..")
        && input["avatars/".len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && input.len() > "avatars/".len();
    if ok {
        Ok(input.to_owned())
    } else {
        Err(format!(
            "the avatar key must be an object key under avatars/ of at most {MAX_AVATAR_KEY} characters"
        ))
    }
}

pub fn key_name(input: &str) -> Result<String, String> {
    let name = input.trim();
    bounded("the API key's name", name, 1, MAX_KEY_NAME)?;
    Ok(name.to_owned())
}

fn bounded(what: &str, value: &str, min: usize, max: usize) -> Result<(), String> {
    let length = value.chars().count();
    if length < min {
        return Err(format!("{what} must not be empty"));
    }
    if length > max {
        return Err(format!("{what} must be at most {max} characters; it has {length}"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_lower_cased_and_bounded() {
        assert_eq!(handle("Ada_Lovelace1").unwrap(), "ada_lovelace1");
        assert!(handle("ab").unwrap_err().contains("3 to 30"));
        assert!(handle(&"a".repeat(31)).unwrap_err().contains("3 to 30"));
        assert!(handle("ada.l").unwrap_err().contains("'.'"));
        assert!(handle("adä_l").is_err());
    }

    #[test]
    fn emails_have_the_usual_shape() {
        for good in ["ada@example.com", "a.b+tag@sub.example.org", "Ada@Example.COM"] {
            assert!(email(good).is_ok(), "{good}");
        }
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@@example.com",
            "ada@.com",
            "ada@example..com",
        ] {
            assert!(email(bad).unwrap_err().contains("name@example.com"), "{bad}");
        }
        assert_eq!(email_key("Ada@Example.COM"), "ada@example.com");
    }

    #[test]
    fn text_fields_are_bounded() {
        assert!(display_name(&"x".repeat(81)).unwrap_err().contains("at most 80"));
        assert!(display_name("  ").unwrap_err().contains("must not be empty"));
        assert!(bio(&"x".repeat(1001)).unwrap_err().contains("at most 1000"));
        assert!(bio("line\nline").is_ok());
        assert!(bio("bell\u{7}").unwrap_err().contains("control"));
        assert!(password("short").unwrap_err().contains("at least 10"));
        assert!(password(&"p".repeat(257)).unwrap_err().contains("at most 256"));
        assert!(password("correct horse").is_ok());
        assert!(language("pt-BR").is_ok() && language("e").is_err() && language("en_US").is_err());
        assert!(maturity_limit(Some(22)).is_err() && maturity_limit(Some(18)).is_ok());
        assert!(avatar_key("avatars/u1/a.jpg").is_ok());
        for bad in ["streams/x", "avatars/../x", "avatars/"] {
            assert!(avatar_key(bad).is_err(), "{bad}");
        }
    }
}
