//! Who uploaded each asset, in the host's own `assets` store (a SQLite
//! file under the stores directory, beside accounts'), so that deleting an
//! asset and reading its private streams can be allowed to its uploader.
//! The metadata store has no owner field: keeping this beside it costs no
//! change to the ScyllaDB schema, and an asset with no row (uploaded before
//! accounts, or whose uploader was deleted) is the admins' alone.

use std::collections::HashMap;

use cdlc_plugin_api::{params, Db, Migration, Sql, StoreError};

const MIGRATIONS: &[Migration] = &[Migration {
    name: "0001_asset_owners",
    statements: &[
        "CREATE TABLE asset_owners (
            asset_id VARCHAR(64) PRIMARY KEY,
            user_id VARCHAR(36) NOT NULL,
            created_at BIGINT NOT NULL
        )",
        "CREATE INDEX asset_owners_by_user ON asset_owners (user_id)",
    ],
}];

/// The uploader of each asset.
#[derive(Debug, Clone)]
pub struct Owners {
    db: Db,
}

impl Owners {
    pub async fn open(db: Db) -> Result<Owners, StoreError> {
        db.migrate(MIGRATIONS).await?;
        Ok(Owners { db })
    }

    /// Records `user_id` as the uploader of `asset_id`.
    pub async fn record(&self, asset_id: &str, user_id: &str) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.db
            .execute(
                "INSERT INTO asset_owners (asset_id, user_id, created_at) VALUES (?, ?, ?)",
                params![asset_id, user_id, now],
            )
            .await?;
        Ok(())
    }

    /// The uploader of each of `asset_ids` that has one.
    pub async fn of(&self, asset_ids: &[&str]) -> Result<HashMap<String, String>, StoreError> {
        let mut owners = HashMap::new();
        // Bounded statements: a page is at most MAX_PAGE_SIZE assets.
        for chunk in asset_ids.chunks(100) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT asset_id, user_id FROM asset_owners WHERE asset_id IN ({marks})");
            let values: Vec<cdlc_plugin_api::store::Value> = chunk.iter().map(|id| (*id).into()).collect();
            for row in self.db.query(&sql, &values).await? {
                owners.insert(row.get("asset_id")?, row.get("user_id")?);
            }
        }
        Ok(owners)
    }

    pub async fn forget_asset(&self, asset_id: &str) -> Result<(), StoreError> {
        self.db.execute("DELETE FROM asset_owners WHERE asset_id = ?", params![asset_id]).await?;
        Ok(())
    }

    /// A deleted user's assets stay, and become the admins' alone.
    pub async fn forget_user(&self, user_id: &str) -> Result<(), StoreError> {
        self.db.execute("DELETE FROM asset_owners WHERE user_id = ?", params![user_id]).await?;
        Ok(())
    }
}
