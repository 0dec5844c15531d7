//! Ticket delivery through an outbox: when an order turns `paid`, the
//! transaction that issues its tickets also writes a `deliveries` row, so a
//! paid order is never without one. The sweeper delivers each pending row:
//! an e-mail message (RFC 5322) written to a maildir, and the event
//! `booking.tickets_delivered`; a failure is retried with a growing pause.
//!
//! Never twice: a sweeper first claims the row (a conditional UPDATE, so of
//! several servers one delivers), the message's file name and Message-ID
//! are the order's id (a retry after a crash rewrites the same file, never
//! a second message), and the event carries the order id for consumers to
//! drop a repeat.

use std::path::{Path, PathBuf};

use cdlc_plugin_api::{params, ApiError, Sql, StoreError, Tx};
use serde::Serialize;

use crate::{format_time, now_ms, App};

/// How long a claim keeps other sweepers off a delivery.
const CLAIM_MS: i64 = 30_000;
/// The longest pause between two attempts.
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Queues the delivery of a paid order's tickets, in the paying transaction.
pub(crate) async fn enqueue(tx: &Tx, order_id: &str, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO deliveries (order_id, status, attempts, next_attempt_at, claimed_until, created_at) \
         VALUES (?, 'pending', 0, ?, 0, ?)",
        params![order_id, now, now],
    )
    .await?;
    Ok(())
}

/// Where the buyer wants the tickets, given at checkout.
pub(crate) async fn set_contact(tx: &Tx, order_id: &str, email: &str) -> Result<(), StoreError> {
    tx.execute("INSERT INTO order_contacts (order_id, email) VALUES (?, ?)", params![order_id, email])
        .await?;
    Ok(())
}

/// A plausible e-mail address, bounded: one `@`, no spaces or controls.
pub(crate) fn check_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim();
    let ok = (3..=254).contains(&email.len())
        && email.matches('@').count() == 1
        && !email.starts_with('@')
        && !email.ends_with('@')
        && email.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ',' | ';'));
    if ok {
        Ok(email.to_owned())
    } else {
        Err(ApiError::bad_request(
            "email must be an address such as ada@example.org (3-254 characters, one @, no spaces)",
        ))
    }
}

/// The maildir the messages go to: the setting, else the plugin's directory's `mail/` (`{data_dir}/plugins/booking/mail`).
pub(crate) fn maildir(app: &App) -> Option<PathBuf> {
    app.settings
        .delivery
        .maildir
        .as_ref()
        .map(PathBuf::from)
        .or_else(|| app.ctx.data_dir().map(|d| d.join("mail")))
}

#[derive(Serialize)]
struct Delivered<'a> {
    order_id: &'a str,
    user_id: Option<&'a str>,
    email: Option<&'a str>,
    showtime_id: &'a str,
    tickets: Vec<&'a str>,
}

/// One pass: delivers the due pending deliveries this server can claim.
pub(crate) async fn deliver_due(app: &App) -> Result<(), ApiError> {
    let now = now_ms();
    let due = app
        .db()
        .query(
            "SELECT order_id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? \
             AND claimed_until < ? ORDER BY next_attempt_at LIMIT 20",
            params![now, now],
        )
        .await?;
    for row in &due {
        let order_id: String = row.get("order_id")?;
        let claimed = app
            .db()
            .execute(
                "UPDATE deliveries SET claimed_until = ?, attempts = attempts + 1 \
                 WHERE order_id = ? AND status = 'pending' AND claimed_until < ?",
                params![now + CLAIM_MS, &order_id, now],
            )
            .await?;
        if claimed == 0 {
            continue;
        }
        match deliver(app, &order_id).await {
            Ok(()) => {
                app.db()
                    .execute(
                        "UPDATE deliveries SET status = 'delivered', delivered_at = ?, last_error = NULL \
                         WHERE order_id = ? AND status = 'pending'",
                        params![now_ms(), &order_id],
                    )
                    .await?;
            }
            Err(why) => {
                let attempts: i64 = app
                    .db()
                    .query("SELECT attempts FROM deliveries WHERE order_id = ?", params![&order_id])
                    .await?
                    .first()
                    .map(|r| r.get("attempts"))
                    .transpose()?
                    .unwrap_or(1);
                let pause = (1000i64 << attempts.clamp(0, 20)).min(MAX_BACKOFF_MS);
                tracing::warn!(plugin = "booking", order_id = %order_id, attempts, error = %why, "a ticket delivery failed; retried");
                app.db()
                    .execute(
                        "UPDATE deliveries SET last_error = ?, next_attempt_at = ?, claimed_until = 0 WHERE order_id = ?",
                        params![why.chars().take(500).collect::<String>(), now_ms() + pause, &order_id],
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

async fn deliver(app: &App, order_id: &str) -> Result<(), String> {
    let db = app.db();
    let order = db
        .query(
            "SELECT o.id, o.user_id, o.showtime_id, o.amount, o.currency, s.title_name, s.title_id, s.starts_at \
             FROM orders o JOIN showtimes s ON s.id = o.showtime_id WHERE o.id = ?",
            params![order_id],
        )
        .await
        .map_err(|e| e.to_string())?;
    let order = order.first().ok_or("the order vanished")?;
    let field = |name: &str| order.get::<Option<String>>(name).map_err(|e| e.to_string());
    let user_id = field("user_id")?;
    let showtime_id = field("showtime_id")?.unwrap_or_default();
    let title = field("title_name")?.or(field("title_id")?).unwrap_or_default();
    let starts_at: i64 = order.get("starts_at").map_err(|e| e.to_string())?;
    let amount: i64 = order.get("amount").map_err(|e| e.to_string())?;
    let currency = field("currency")?.unwrap_or_default();
    let email: Option<String> = db
        .query("SELECT email FROM order_contacts WHERE order_id = ?", params![order_id])
        .await
        .map_err(|e| e.to_string())?
        .first()
        .map(|r| r.get("email"))
        .transpose()
        .map_err(|e| e.to_string())?;
    let tickets = db
        .query(
            "SELECT t.id, t.seat_id, i.row_label, i.seat_label FROM tickets t \
             JOIN order_items i ON i.order_id = t.order_id AND i.seat_id = t.seat_id \
             WHERE t.order_id = ? ORDER BY t.seat_id",
            params![order_id],
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    let mut ids = Vec::new();
    for ticket in &tickets {
        let id: String = ticket.get("id").map_err(|e| e.to_string())?;
        let row: String = ticket.get("row_label").map_err(|e| e.to_string())?;
        let seat: String = ticket.get("seat_label").map_err(|e| e.to_string())?;
        lines.push(format!(
            "  Row {row}, seat {seat}: ticket {id}\r\n    code {}\r\n    QR: /api/v1/booking/tickets/{id}/qr.svg",
            crate::tickets::payload(&app.ticket_key, &id)
        ));
        ids.push(id);
    }
    if let (Some(email), Some(dir)) = (&email, maildir(app)) {
        let message = render(
            &app.settings.delivery.from,
            email,
            order_id,
            &title,
            starts_at,
            &crate::money::display(amount, &currency),
            &lines,
        );
        write_maildir(&dir, order_id, &message).map_err(|e| format!("the maildir {}: {e}", dir.display()))?;
    }
    let event = Delivered {
        order_id,
        user_id: user_id.as_deref(),
        email: email.as_deref(),
        showtime_id: &showtime_id,
        tickets: ids.iter().map(String::as_str).collect(),
    };
    app.ctx.publish("tickets_delivered", &event).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Header values without line breaks (no header injection from a title).
fn header_text(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn render(
    from: &str,
    to: &str,
    order_id: &str,
    title: &str,
    starts_at: i64,
    total: &str,
    lines: &[String],
) -> String {
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let title = header_text(title);
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: =?utf-8?B?{}?=\r\nDate: {date}\r\nMessage-ID: <{order_id}@booking.cdlc>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Your tickets for {title}, {} (order {order_id}, {total} paid):\r\n\r\n{}\r\n\r\n\
         Show the code or the QR at the door; each ticket admits once.\r\n",
        base64(format!("Your tickets: {title}").as_bytes()),
        format_time(starts_at),
        lines.join("\r\n"),
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Maildir delivery: written under `tmp/`, synced, then renamed into `new/`
/// (atomic: a reader never sees half a message); the name is the order id.
fn write_maildir(dir: &Path, order_id: &str, message: &str) -> std::io::Result<()> {
    use std::io::Write;
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let name = format!("{order_id}.booking.cdlc");
    let tmp = dir.join("tmp").join(&name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(message.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join("new").join(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_messages_are_well_formed() {
        assert_eq!(check_email(" ada@example.org ").unwrap(), "ada@example.org");
        for bad in ["", "ada", "a@b@c", "ada @x.org", "ada@x.org\r\nBcc: eve@x.org", "@x.org"] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        let message =
            render("t@cdlc", "ada@example.org", "o1", "Evil\r\nBcc: x", 0, "EUR 1.00", &["  A1".into()]);
        let headers = message.split("\r\n\r\n").next().unwrap();
        assert!(!headers.contains("Bcc"), "{headers}");
        assert!(headers.contains("Message-ID: <o1@booking.cdlc>"), "{headers}");
        assert!(message.contains("Evil  Bcc: x"), "{message}");
    }

    #[test]
    fn a_maildir_message_appears_whole_under_new() {
        let dir = tempfile::tempdir().unwrap();
        write_maildir(dir.path(), "o1", "hello").unwrap();
        write_maildir(dir.path(), "o1", "hello again").unwrap();
        let new: Vec<_> = std::fs::read_dir(dir.path().join("new")).unwrap().collect();
        assert_eq!(new.len(), 1, "a retry rewrites the one message");
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none());
    }
}
