//! The social plugin's tables (portable SQL: see `cdlc_plugin_store`).
//!
//! Users are the host's (`user_id`, a UUID); `members` keeps the handle of
//! everyone who has used the plugin so profiles and follows can name them.
//! Titles are the catalog's ids, never joined here: titles are read through
//! the catalog's API. Times are Unix milliseconds. A rating is an integer
//! count of half stars (1–10 = 0.5–5 stars).
//!
//! `activity` is the feed's log: one row per diary entry or list event, with
//! its actor and the visibility of what it points at (kept in step when that
//! changes). The feed reads it on request (fan-out on read; see
//! docs/architecture.md, "Social").
//!
//! `engagements` holds each user's implicit feedback (a title logged, rated
//! well, liked or watched to 90 %), `co_counts` the item-item co-occurrence
//! counts kept incrementally from it, `title_counts` each title's engaged
//! users (the popularity fallback).

use cdlc_plugin_api::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "0001_social",
    statements: &[
        "CREATE TABLE members (
            user_id VARCHAR(36) PRIMARY KEY,
            handle VARCHAR(64) NOT NULL,
            handle_key VARCHAR(64) NOT NULL,
            created_at BIGINT NOT NULL
        )",
        "CREATE INDEX members_by_handle ON members (handle_key)",
        "CREATE TABLE watchlist (
            user_id VARCHAR(36) NOT NULL,
            title_id VARCHAR(36) NOT NULL,
            position BIGINT NOT NULL,
            added_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, title_id)
        )",
        "CREATE INDEX watchlist_by_position ON watchlist (user_id, position)",
        "CREATE TABLE lists (
            id VARCHAR(36) PRIMARY KEY,
            owner_id VARCHAR(36) NOT NULL,
            name VARCHAR(200) NOT NULL,
            name_key VARCHAR(200) NOT NULL,
            description TEXT,
            ranked BOOLEAN NOT NULL,
            visibility VARCHAR(16) NOT NULL,
            link_key VARCHAR(64) NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        "CREATE INDEX lists_by_owner ON lists (owner_id, created_at)",
        "CREATE INDEX lists_by_name ON lists (name_key)",
        "CREATE TABLE list_entries (
            list_id VARCHAR(36) NOT NULL,
            title_id VARCHAR(36) NOT NULL,
            position BIGINT NOT NULL,
            note TEXT,
            added_at BIGINT NOT NULL,
            PRIMARY KEY (list_id, title_id)
        )",
        "CREATE INDEX list_entries_by_position ON list_entries (list_id, position)",
        "CREATE TABLE diary (
            id VARCHAR(36) PRIMARY KEY,
            user_id VARCHAR(36) NOT NULL,
            title_id VARCHAR(36) NOT NULL,
            watched_on VARCHAR(10) NOT NULL,
            rewatch BOOLEAN NOT NULL,
            rating BIGINT,
            liked BOOLEAN NOT NULL,
            tags TEXT,
            review TEXT,
            spoiler BOOLEAN NOT NULL,
            visibility VARCHAR(16) NOT NULL,
            created_at BIGINT NOT NULL
        )",
        "CREATE INDEX diary_by_user ON diary (user_id, created_at)",
        "CREATE INDEX diary_by_title ON diary (title_id, created_at)",
        "CREATE TABLE favourites (
            user_id VARCHAR(36) NOT NULL,
            position BIGINT NOT NULL,
            title_id VARCHAR(36) NOT NULL,
            PRIMARY KEY (user_id, position)
        )",
        "CREATE TABLE likes (
            user_id VARCHAR(36) NOT NULL,
            target_kind VARCHAR(8) NOT NULL,
            target_id VARCHAR(36) NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, target_kind, target_id)
        )",
        "CREATE INDEX likes_by_target ON likes (target_kind, target_id)",
        "CREATE TABLE comments (
            id VARCHAR(36) PRIMARY KEY,
            target_kind VARCHAR(8) NOT NULL,
            target_id VARCHAR(36) NOT NULL,
            user_id VARCHAR(36) NOT NULL,
            body TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )",
        "CREATE INDEX comments_by_target ON comments (target_kind, target_id, created_at)",
        "CREATE INDEX comments_by_user ON comments (user_id)",
        "CREATE TABLE follows (
            follower_id VARCHAR(36) NOT NULL,
            followee_id VARCHAR(36) NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (follower_id, followee_id)
        )",
        "CREATE INDEX follows_by_followee ON follows (followee_id, follower_id)",
        "CREATE TABLE blocks (
            blocker_id VARCHAR(36) NOT NULL,
            blocked_id VARCHAR(36) NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (blocker_id, blocked_id)
        )",
        "CREATE INDEX blocks_by_blocked ON blocks (blocked_id, blocker_id)",
        "CREATE TABLE progress (
            user_id VARCHAR(36) NOT NULL,
            asset_id VARCHAR(64) NOT NULL,
            position_ms BIGINT NOT NULL,
            duration_ms BIGINT NOT NULL,
            watched BOOLEAN NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, asset_id)
        )",
        "CREATE INDEX progress_by_user ON progress (user_id, updated_at)",
        "CREATE TABLE activity (
            id VARCHAR(36) PRIMARY KEY,
            actor_id VARCHAR(36) NOT NULL,
            kind VARCHAR(16) NOT NULL,
            subject_id VARCHAR(36) NOT NULL,
            title_id VARCHAR(36),
            visibility VARCHAR(16) NOT NULL,
            created_at BIGINT NOT NULL
        )",
        "CREATE INDEX activity_by_actor ON activity (actor_id, created_at, id)",
        "CREATE INDEX activity_by_subject ON activity (subject_id)",
        "CREATE TABLE engagements (
            user_id VARCHAR(36) NOT NULL,
            title_id VARCHAR(36) NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, title_id)
        )",
        "CREATE INDEX engagements_by_user ON engagements (user_id, created_at)",
        "CREATE TABLE co_counts (
            title_a VARCHAR(36) NOT NULL,
            title_b VARCHAR(36) NOT NULL,
            users BIGINT NOT NULL,
            PRIMARY KEY (title_a, title_b)
        )",
        "CREATE INDEX co_counts_by_weight ON co_counts (title_a, users)",
        "CREATE TABLE title_counts (
            title_id VARCHAR(36) PRIMARY KEY,
            users BIGINT NOT NULL
        )",
        "CREATE INDEX title_counts_by_users ON title_counts (users, title_id)",
        "CREATE TABLE hidden_recs (
            user_id VARCHAR(36) NOT NULL,
            title_id VARCHAR(36) NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, title_id)
        )",
    ],
}];
