//! Migrations: named, ordered, applied once, recorded in the store's own table.

use crate::{params, Db, Sql, StoreError};

/// The table where a store records the migrations applied to it.
pub const MIGRATIONS_TABLE: &str = "cdlc_migrations";

/// One schema change. Its `name` is its identity: never rename, reorder or
/// edit a migration that has shipped; add a new one.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Unique within the store, e.g. `"0001_users"`; at most 200 characters.
    pub name: &'static str,
    /// Portable statements, one per entry, run in order.
    pub statements: &'static [&'static str],
}

pub(crate) async fn apply(db: &Db, migrations: &[Migration]) -> Result<Vec<&'static str>, StoreError> {
    for (i, migration) in migrations.iter().enumerate() {
        if migration.name.is_empty() || migration.name.len() > 200 {
            return Err(StoreError::Migration(format!(
                "the migration name {:?} must be 1-200 characters",
                migration.name
            )));
        }
        if migrations[..i].iter().any(|m| m.name == migration.name) {
            return Err(StoreError::Migration(format!("two migrations are named {:?}", migration.name)));
        }
    }
    db.execute(
        "CREATE TABLE IF NOT EXISTS cdlc_migrations (name VARCHAR(200) PRIMARY KEY, position BIGINT NOT NULL, applied_at BIGINT NOT NULL)",
        params![],
    )
    .await?;

    let mut applied = Vec::new();
    for (position, migration) in migrations.iter().enumerate() {
        let done = db
            .transaction(|tx| async move {
                let recorded = recorded(&tx).await?;
                check_prefix(&recorded, migrations)?;
                if recorded.len() > position {
                    return Ok::<_, StoreError>(false);
                }
                for statement in migration.statements {
                    tx.execute(statement, params![]).await.map_err(|e| match e {
                        StoreError::NotPortable { .. } | StoreError::Sql(_) => {
                            StoreError::Migration(format!("{} failed: {e}", migration.name))
                        }
                        other => other,
                    })?;
                }
                tx.execute(
                    "INSERT INTO cdlc_migrations (name, position, applied_at) VALUES (?, ?, ?)",
                    params![migration.name, position as i64, now_ms()],
                )
                .await?;
                Ok(true)
            })
            .await?;
        if done {
            tracing::info!(plugin = db.name(), migration = migration.name, "applied a migration");
            applied.push(migration.name);
        }
    }
    if migrations.is_empty() {
        check_prefix(&recorded(db).await?, migrations)?;
    }
    Ok(applied)
}

async fn recorded(sql: &impl Sql) -> Result<Vec<String>, StoreError> {
    let rows = sql.query("SELECT name FROM cdlc_migrations ORDER BY position", params![]).await?;
    rows.iter().map(|row| row.get::<String>("name")).collect()
}

fn check_prefix(recorded: &[String], migrations: &[Migration]) -> Result<(), StoreError> {
    for (position, name) in recorded.iter().enumerate() {
        match migrations.get(position) {
            Some(migration) if migration.name == name => {}
            Some(migration) => {
                return Err(StoreError::Migration(format!(
                    "the store recorded {name:?} at position {position} where this build has {:?}; \
                     migrations that shipped must never be renamed, removed or reordered",
                    migration.name
                )))
            }
            None => {
                return Err(StoreError::Migration(format!(
                    "the store recorded the migration {name:?}, which this build does not know: \
                     a newer cdlc wrote it; upgrade cdlc"
                )))
            }
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
