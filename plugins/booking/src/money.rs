//! Money: amounts in integer minor units (cents, öre, yen) with an ISO 4217
//! currency, checked where they enter so no sum can overflow later.

use cdlc_plugin_api::ApiError;

/// The largest price of one seat, in minor units (one million major units
/// for a two-decimal currency). With at most `MAX_SEATS_PER_HOLD_LIMIT`
/// seats an order total stays far below `i64::MAX`.
pub const MAX_PRICE: i64 = 100_000_000;

/// The ISO 4217 currencies this build knows, with their minor-unit
/// exponent (informational: amounts are always minor units).
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// The currency code, upper-cased, if this build knows it; else a 400
/// that says what to send.
pub fn currency(code: &str) -> Result<String, ApiError> {
    let upper = code.trim().to_ascii_uppercase();
    if CURRENCIES.iter().any(|(c, _)| *c == upper) {
        Ok(upper)
    } else {
        Err(ApiError::bad_request(format!(
            "unknown currency {:?}: use a three-letter ISO 4217 code such as EUR, USD or JPY",
            code.chars().take(12).collect::<String>()
        )))
    }
}

/// Minor units per major unit, for display (100 for EUR, 1 for JPY).
pub fn minor_per_major(code: &str) -> i64 {
    let exponent = CURRENCIES.iter().find(|(c, _)| *c == code).map_or(2, |(_, e)| *e);
    10i64.pow(u32::from(exponent))
}

/// An amount for people: `EUR 9.99`, `JPY 500`.
pub fn display(amount: i64, currency: &str) -> String {
    let per = minor_per_major(currency);
    let digits = per.ilog10() as usize;
    if digits == 0 {
        return format!("{currency} {amount}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let amount = amount.unsigned_abs();
    let per = per.unsigned_abs();
    format!("{currency} {sign}{}.{:0digits$}", amount / per, amount % per)
}

/// A price a person typed: 0 ≤ amount ≤ `MAX_PRICE`.
pub fn price(what: &str, amount: i64) -> Result<i64, ApiError> {
    if amount < 0 {
        return Err(ApiError::bad_request(format!(
            "the price of {what} is negative ({amount}); prices are integer minor units, 0 or more"
        )));
    }
    if amount > MAX_PRICE {
        return Err(ApiError::bad_request(format!(
            "the price of {what} ({amount}) is above the largest allowed, {MAX_PRICE} minor units"
        )));
    }
    Ok(amount)
}

/// A sum of checked prices; the error cannot happen with checked inputs but
/// is answered, not panicked, should a bound ever change.
pub fn total(amounts: impl IntoIterator<Item = i64>) -> Result<i64, ApiError> {
    amounts
        .into_iter()
        .try_fold(0i64, i64::checked_add)
        .ok_or_else(|| ApiError::bad_request("the order total does not fit in a 64-bit amount"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_and_prices_are_checked_with_sentences() {
        assert_eq!(currency("eur").unwrap(), "EUR");
        let unknown = currency("XYZ").unwrap_err();
        assert_eq!(unknown.status(), 400);
        assert!(unknown.message().contains("ISO 4217"), "{unknown}");
        assert!(price("standard", -1).unwrap_err().message().contains("negative"));
        assert!(price("standard", MAX_PRICE + 1).unwrap_err().message().contains("largest"));
        assert_eq!(total([1, 2, 3]).unwrap(), 6);
        assert!(total([i64::MAX, 1]).is_err());
        assert_eq!(minor_per_major("JPY"), 1);
        assert_eq!(minor_per_major("KWD"), 1000);
        assert_eq!(display(999, "EUR"), "EUR 9.99");
        assert_eq!(display(5, "EUR"), "EUR 0.05");
        assert_eq!(display(500, "JPY"), "JPY 500");
        assert_eq!(display(1234, "KWD"), "KWD 1.234");
    }
}
