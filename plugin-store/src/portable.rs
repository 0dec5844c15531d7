//! The guard that keeps plugin SQL inside the portable subset. Every
//! statement a caller passes is scanned before any backend sees it, so SQL
//! that would only work on SQLite fails in the embedded tests already, not
//! on the day a deployment moves to MySQL. It is a word scanner, not a
//! parser: it knows the constructs that differ between the two dialects and
//! refuses those; everything else is left to the backends.

use crate::StoreError;

/// Words refused anywhere in a statement, with what to do instead.
const REFUSED_WORDS: &[(&str, &str)] = &[
    ("AUTOINCREMENT", "generate ids in the application, e.g. UUIDv7 text"),
    ("AUTO_INCREMENT", "generate ids in the application, e.g. UUIDv7 text"),
    ("PRAGMA", "the backend sets up its own connection"),
    ("RETURNING", "read the row back with a SELECT, or generate the key first"),
    ("CONFLICT", "insert and handle StoreError::Conflict, or UPDATE then INSERT"),
    ("REPLACE", "insert and handle StoreError::Conflict, or UPDATE then INSERT"),
    ("IGNORE", "insert and handle StoreError::Conflict"),
    ("DUPLICATE", "insert and handle StoreError::Conflict, or UPDATE then INSERT"),
    ("ROWID", "declare a primary key of your own"),
    ("GLOB", "use LIKE"),
    ("ILIKE", "compare a lower-cased column you store yourself"),
    ("NOCASE", "store a lower-cased copy of the column and index that"),
    ("COLLATE", "store a lower-cased copy of the column and index that"),
    ("ATTACH", "a plugin sees only its own database"),
    ("VACUUM", "maintenance belongs to the backend"),
    ("ENGINE", "the backend chooses the storage engine"),
    ("UNSIGNED", "use BIGINT and check the range in the application"),
    ("CURRENT_TIMESTAMP", "pass the time as a BIGINT parameter (Unix milliseconds)"),
    ("NOW", "pass the time as a BIGINT parameter (Unix milliseconds)"),
    ("DATETIME", "store times as BIGINT Unix milliseconds"),
    ("STRFTIME", "store times as BIGINT Unix milliseconds"),
    ("UNIXEPOCH", "store times as BIGINT Unix milliseconds"),
];

/// Words MySQL (8 or MariaDB 10.11) reserves that SQLite takes as plain
/// names, and that the portable subset never needs as keywords: as a column
/// or table name they break the statement on MySQL only (the booking
/// plugin's `accessible` column did). Words both dialects use in portable
/// SQL (RANK, OVER, RANGE, RELEASE, GENERATED…) are not listed.
const MYSQL_RESERVED: &[&str] = &[
    "ACCESSIBLE",
    "CHANGE",
    "CONDITION",
    "CONTINUE",
    "CURSOR",
    "DATABASES",
    "DECLARE",
    "DELAYED",
    "DIV",
    "DUAL",
    "EMPTY",
    "ENCLOSED",
    "ESCAPED",
    "EXIT",
    "FETCH",
    "FULLTEXT",
    "FUNCTION",
    "HIGH_PRIORITY",
    "INFILE",
    "INOUT",
    "INTERVAL",
    "ITERATE",
    "KEYS",
    "KILL",
    "LEAVE",
    "LINES",
    "LOAD",
    "LOCK",
    "LONG",
    "LOOP",
    "LOW_PRIORITY",
    "MAXVALUE",
    "MOD",
    "OPTION",
    "OPTIONALLY",
    "OUT",
    "OUTFILE",
    "READ",
    "READS",
    "REPEAT",
    "REQUIRE",
    "RESIGNAL",
    "RETURN",
    "RLIKE",
    "SCHEMA",
    "SCHEMAS",
    "SENSITIVE",
    "SEPARATOR",
    "SHOW",
    "SIGNAL",
    "SPATIAL",
    "SPECIFIC",
    "SQL",
    "SQLEXCEPTION",
    "SQLSTATE",
    "SQLWARNING",
    "STARTING",
    "SYSTEM",
    "TERMINATED",
    "UNDO",
    "UNLOCK",
    "USAGE",
    "USE",
    "WRITE",
    "XOR",
    "ZEROFILL",
];

/// Column types refused in CREATE/ALTER TABLE: their width differs between
/// the dialects (MySQL's INT is 32 bits, FLOAT single precision).
const REFUSED_TYPES: &[(&str, &str)] = &[
    ("INTEGER", "use BIGINT (64 bits on every backend)"),
    ("INT", "use BIGINT (64 bits on every backend)"),
    ("SMALLINT", "use BIGINT (64 bits on every backend)"),
    ("TINYINT", "use BOOLEAN or BIGINT"),
    ("REAL", "use DOUBLE"),
    ("FLOAT", "use DOUBLE"),
    ("NUMERIC", "use BIGINT (scaled) or DOUBLE"),
    ("DECIMAL", "use BIGINT (e.g. cents) or DOUBLE"),
    ("TIMESTAMP", "store times as BIGINT Unix milliseconds"),
    ("DATE", "store dates as VARCHAR(10) YYYY-MM-DD or BIGINT"),
    ("JSON", "store JSON as TEXT"),
    ("CHAR", "use VARCHAR(n)"),
    ("CLOB", "use TEXT"),
];

fn refuse(construct: impl Into<String>, hint: &'static str) -> StoreError {
    StoreError::NotPortable { construct: construct.into(), hint }
}

/// The index and table of a portable `DROP INDEX i ON t` (MySQL's form,
/// which the SQLite backend runs as its own `DROP INDEX i`); `None` for any
/// other statement.
pub fn dropped_index(sql: &str) -> Option<(&str, &str)> {
    let mut words = sql.strip_prefix("DROP INDEX ")?.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(index), Some("ON"), Some(table), None) => Some((index, table)),
        _ => None,
    }
}

/// Checks one statement; `Ok` means nothing non-portable was found.
pub fn check(sql: &str) -> Result<(), StoreError> {
    let mut words: Vec<String> = Vec::new();
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' => {
                // A string literal; '' is an escaped quote. Backslashes are
                // escapes in MySQL and plain characters in SQLite.
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(refuse("an unterminated string literal", "close the quote")),
                        Some(b'\\') => {
                            return Err(refuse(
                                "a backslash inside a string literal",
                                "MySQL reads it as an escape; pass the text as a ? parameter",
                            ))
                        }
                        Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                        Some(b'\'') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
            }
            b'"' => {
                return Err(refuse("a \"double-quoted\" name", "MySQL reads it as a string; use plain names"))
            }
            b'`' => {
                return Err(refuse(
                    "a `backquoted` name",
                    "SQLite accepts it, but it is MySQL's; use plain names",
                ))
            }
            b'[' => return Err(refuse("a [bracketed] name", "use plain names")),
            b'$' | b':' | b'@' => {
                return Err(refuse(
                    format!("the placeholder or variable {:?}", &sql[i..(i + 2).min(sql.len())]),
                    "use ? placeholders",
                ))
            }
            b'?' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                return Err(refuse("a numbered ?N placeholder", "use plain ? placeholders, in order"))
            }
            b'|' if bytes.get(i + 1) == Some(&b'|') => {
                return Err(refuse("the || operator", "MySQL reads it as OR; concatenate in the application"))
            }
            b'#' => return Err(refuse("a # comment", "use -- comments")),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                if !bytes.get(i + 2).is_none_or(|b| b.is_ascii_whitespace()) {
                    return Err(refuse(
                        "a -- comment without a space after it",
                        "MySQL needs a space after --",
                    ));
                }
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b';' if !sql[i + 1..].trim().is_empty() => {
                return Err(refuse("several statements in one call", "pass one statement per call"))
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                words.push(sql[start..i].to_ascii_uppercase());
                continue;
            }
            _ => {}
        }
        i += 1;
    }

    for (index, word) in words.iter().enumerate() {
        if let Some((_, hint)) = REFUSED_WORDS.iter().find(|(w, _)| w == word) {
            // REPLACE(text, from, to) is a function both dialects have; only
            // REPLACE INTO is refused.
            if word == "REPLACE" && words.get(index + 1).is_none_or(|next| next != "INTO") {
                continue;
            }
            return Err(refuse(word.clone(), hint));
        }
        if MYSQL_RESERVED.contains(&word.as_str()) {
            return Err(refuse(
                format!("the name {word}"),
                "MySQL reserves it as a keyword; name it otherwise (e.g. is_accessible, item_condition)",
            ));
        }
        if word == "INSERT" && words.get(index + 1).is_some_and(|next| next == "OR") {
            return Err(refuse("INSERT OR …", "insert and handle StoreError::Conflict"));
        }
    }
    let defines_columns = matches!(
        (words.first().map(String::as_str), words.get(1).map(String::as_str)),
        (Some("CREATE" | "ALTER"), Some("TABLE"))
    );
    if defines_columns {
        if let Some((word, hint)) = words.iter().find_map(|w| REFUSED_TYPES.iter().find(|(t, _)| t == w)) {
            return Err(refuse(format!("the column type {word}"), hint));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn portable_statements_pass() {
        for sql in [
            "CREATE TABLE movies (id VARCHAR(36) PRIMARY KEY, title TEXT NOT NULL, year BIGINT, \
             rating DOUBLE, poster BLOB, public BOOLEAN NOT NULL DEFAULT FALSE)",
            "CREATE UNIQUE INDEX movies_by_title ON movies (title)",
            "INSERT INTO movies (id, title) VALUES (?, ?)",
            "SELECT id, title FROM movies WHERE title LIKE ? ORDER BY id DESC LIMIT ?",
            "UPDATE movies SET title = REPLACE(title, 'it''s', ?) WHERE id = ?;",
            "SELECT COUNT(*) AS n FROM movies -- how many\n WHERE year > ?",
            "SELECT 'a:b $c @d \"e\" || #' AS literal FROM movies",
        ] {
            check(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn dialect_specific_sql_is_refused_with_a_hint() {
        for (sql, construct) in [
            ("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)", "AUTOINCREMENT"),
            ("CREATE TABLE t (id INTEGER PRIMARY KEY)", "INTEGER"),
            ("CREATE TABLE t (id BIGINT, at TIMESTAMP)", "TIMESTAMP"),
            ("INSERT OR IGNORE INTO t VALUES (?)", "INSERT OR"),
            ("INSERT IGNORE INTO t VALUES (?)", "IGNORE"),
            ("INSERT INTO t VALUES (?) ON CONFLICT DO NOTHING", "CONFLICT"),
            ("INSERT INTO t VALUES (?) RETURNING id", "RETURNING"),
            ("REPLACE INTO t VALUES (?)", "REPLACE"),
            ("SELECT * FROM t WHERE id = $1", "$1"),
            ("SELECT * FROM t WHERE id = ?1", "?N"),
            ("SELECT * FROM t WHERE id = :id", ":i"),
            ("SELECT a || b FROM t", "||"),
            ("SELECT \"id\" FROM t", "double-quoted"),
            ("SELECT `id` FROM t", "backquoted"),
            ("PRAGMA user_version", "PRAGMA"),
            ("SELECT * FROM t WHERE name = ? COLLATE NOCASE", "COLLATE"),
            ("SELECT 'a\\'b' FROM t", "backslash"),
            ("DELETE FROM t; DROP TABLE t", "several statements"),
            ("SELECT * FROM t WHERE at < CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
            ("CREATE TABLE seats (id BIGINT, accessible BOOLEAN)", "the name ACCESSIBLE"),
            ("SELECT id FROM items WHERE condition = ?", "the name CONDITION"),
            ("SELECT a DIV b FROM t", "the name DIV"),
        ] {
            let error = check(sql).expect_err(sql).to_string();
            assert!(error.contains(construct), "{sql}: {error}");
        }
    }

    #[test]
    fn column_types_are_checked_only_where_columns_are_defined() {
        // Types are written only in CREATE/ALTER TABLE; in a query the same
        // words can be column names.
        check("SELECT date, json FROM events WHERE int_value = ?").expect("names in a query");
        assert!(check("ALTER TABLE events ADD COLUMN at DATE").is_err());
    }
}
