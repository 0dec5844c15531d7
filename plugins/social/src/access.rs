//! Who may see what: the one check the REST routes, the feed and GraphQL
//! share. A reader sees their own things; nobody sees anything of someone
//! who blocked them or whom they blocked; `public` is for everyone,
//! `followers` for those who follow the owner, `link` for whoever has the
//! list's link key, `private` for the owner alone.

use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::{params, ApiError, FromRow, Row, Sql, StoreError};
use serde::{Deserialize, Serialize};

/// Who may see a list or a diary entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    /// Those who follow the owner.
    Followers,
    /// The owner alone.
    Private,
    /// Whoever has the link (lists only): not listed, not in feeds.
    Link,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Followers => "followers",
            Visibility::Private => "private",
            Visibility::Link => "link",
        }
    }

    pub fn parse(text: &str) -> Result<Visibility, StoreError> {
        match text {
            "public" => Ok(Visibility::Public),
            "followers" => Ok(Visibility::Followers),
            "private" => Ok(Visibility::Private),
            "link" => Ok(Visibility::Link),
            other => Err(StoreError::Decode {
                column: "visibility".into(),
                message: format!("unknown visibility {other:?}"),
            }),
        }
    }
}

/// What a reader is to an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    pub is_owner: bool,
    /// Either blocked the other.
    pub blocked: bool,
    /// The reader follows the owner.
    pub follows: bool,
}

impl Relation {
    pub const STRANGER: Relation = Relation { is_owner: false, blocked: false, follows: false };

    /// Whether the reader may see a thing of `visibility` (`link_ok`: the
    /// reader came with the list's link key).
    pub fn can_see(self, visibility: Visibility, link_ok: bool) -> bool {
        if self.is_owner {
            return true;
        }
        if self.blocked {
            return false;
        }
        match visibility {
            Visibility::Public => true,
            Visibility::Followers => self.follows,
            Visibility::Link => link_ok,
            Visibility::Private => false,
        }
    }

    /// The visibilities this reader sees in listings (never `link`: a
    /// link-only list is found by its link alone), as an SQL `IN` list.
    pub fn listed_sql(self) -> &'static str {
        match (self.is_owner, self.blocked, self.follows) {
            (true, _, _) => "('public', 'followers', 'private', 'link')",
            (false, true, _) => "('none')",
            (false, false, true) => "('public', 'followers')",
            (false, false, false) => "('public')",
        }
    }
}

/// The reader's relation to `owner` (one query).
pub async fn relation(db: &impl Sql, reader: Option<&str>, owner: &str) -> Result<Relation, StoreError> {
    let Some(reader) = reader else { return Ok(Relation::STRANGER) };
    if reader == owner {
        return Ok(Relation { is_owner: true, blocked: false, follows: false });
    }
    let rows = db
        .query(
            "SELECT (SELECT COUNT(*) FROM blocks WHERE (blocker_id = ? AND blocked_id = ?) OR (blocker_id = ? AND blocked_id = ?)) AS blocked, \
             (SELECT COUNT(*) FROM follows WHERE follower_id = ? AND followee_id = ?) AS follows",
            params![reader, owner, owner, reader, reader, owner],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Decode { column: "blocked".into(), message: "no row".into() })?;
    Ok(Relation {
        is_owner: false,
        blocked: row.get::<i64>("blocked")? > 0,
        follows: row.get::<i64>("follows")? > 0,
    })
}

/// A member: a user who has used the plugin.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub id: String,
    pub handle: String,
}

impl FromRow for Member {
    fn from_row(row: &Row) -> Result<Member, StoreError> {
        Ok(Member { id: row.get("user_id")?, handle: row.get("handle")? })
    }
}

/// The member a path names, by handle (any case) or user id.
pub async fn member(db: &impl Sql, name: &str) -> Result<Member, ApiError> {
    crate::check_id("user", name)?;
    let key = name.to_lowercase();
    db.query_opt::<Member>(
        "SELECT user_id, handle FROM members WHERE handle_key = ? OR user_id = ? LIMIT ?",
        params![&key, name, 1],
    )
    .await?
    .ok_or_else(|| {
        ApiError::not_found(format!(
            "nobody called {:?} uses the social features yet (a handle or user id)",
            name.chars().take(64).collect::<String>()
        ))
    })
}

/// The member a path names, or 404 when either blocked the other (a
/// blocked reader learns nothing, not even that the profile exists).
pub async fn visible_member(
    db: &impl Sql,
    reader: Option<&str>,
    name: &str,
) -> Result<(Member, Relation), ApiError> {
    let found = member(db, name).await?;
    let rel = relation(db, reader, &found.id).await?;
    if rel.blocked {
        return Err(ApiError::not_found(format!(
            "nobody called {:?} uses the social features yet (a handle or user id)",
            name.chars().take(64).collect::<String>()
        )));
    }
    Ok((found, rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_rules() {
        let owner = Relation { is_owner: true, blocked: false, follows: false };
        let follower = Relation { is_owner: false, blocked: false, follows: true };
        let blocked = Relation { is_owner: false, blocked: true, follows: true };
        for v in [Visibility::Public, Visibility::Followers, Visibility::Private, Visibility::Link] {
            assert!(owner.can_see(v, false), "{v:?}");
            assert!(!blocked.can_see(v, true), "{v:?}");
        }
        assert!(follower.can_see(Visibility::Followers, false));
        assert!(!Relation::STRANGER.can_see(Visibility::Followers, false));
        assert!(!follower.can_see(Visibility::Private, true));
        assert!(!follower.can_see(Visibility::Link, false) && follower.can_see(Visibility::Link, true));
        assert!(!follower.listed_sql().contains("link") && !follower.listed_sql().contains("private"));
    }
}
