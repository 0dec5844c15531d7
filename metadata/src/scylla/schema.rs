//! The keyspace's tables and every statement cdlc sends, in one place so a
//! test can read them all.
//!
//! Rules the schema keeps: every read names a whole partition key (no
//! filtered scan, no secondary index); each table answers one access
//! path; lightweight transactions (`IF …`) only where two writers could
//! race for the same row and the loser must know it lost.

/// Days since the epoch: the partition of an asset in the listing tables.
/// A day keeps a partition small even at thousands of uploads a day, and a
/// listing that walks back through quiet days skips them (see `asset_buckets`).
pub const BUCKET_MS: i64 = 86_400_000;

/// Partitions of the job queue. More spreads queue writes over more nodes;
/// a claim reads the head of each. Fixed for the life of a keyspace.
pub const QUEUE_SHARDS: i32 = 8;

/// Events per partition of `events`; a cursor (a sequence number) names its
/// partition at once: `seq / EVENT_BLOCK`.
pub const EVENT_BLOCK: i64 = 1000;

/// `CREATE TABLE IF NOT EXISTS` for each table; run in order at connect.
pub const TABLES: &[&str] = &[
    // assets: partition = asset id. The truth about an asset; every other
    // asset table is an index whose rows are checked against this one.
    "CREATE TABLE IF NOT EXISTS assets (
        id text PRIMARY KEY,
        title text,
        status text,
        progress double,
        error text,
        private boolean,
        source text,
        created_at bigint,
        updated_at bigint
    )",
    // assets_by_time: partition = creation day; clustering id DESC. Ids are
    // UUIDv7 (time first), so a partition reads newest first and a cursor
    // (the last id seen) is also a position: `id < cursor`.
    "CREATE TABLE IF NOT EXISTS assets_by_time (
        bucket int,
        id text,
        PRIMARY KEY ((bucket), id)
    ) WITH CLUSTERING ORDER BY (id DESC)",
    // assets_by_status: partition = (status, creation day); the filtered
    // listing. A status change moves the row in a logged batch with the
    // assets update; a row a race left behind is dropped when read.
    "CREATE TABLE IF NOT EXISTS assets_by_status (
        status text,
        bucket int,
        id text,
        PRIMARY KEY ((status, bucket), id)
    ) WITH CLUSTERING ORDER BY (id DESC)",
    // asset_buckets: partition = listing ('all' or a status); clustering
    // day DESC. The days that hold assets, so a listing jumps over empty
    // days instead of probing each one.
    "CREATE TABLE IF NOT EXISTS asset_buckets (
        listing text,
        bucket int,
        PRIMARY KEY ((listing), bucket)
    ) WITH CLUSTERING ORDER BY (bucket DESC)",
    // renditions: partition = asset; clustering name. A handful per asset.
    "CREATE TABLE IF NOT EXISTS renditions (
        asset_id text,
        name text,
        kind text,
        width int,
        height int,
        bitrate bigint,
        codec text,
        PRIMARY KEY ((asset_id), name)
    )",
    // segments: partition = asset; clustering (rendition, number), so one
    // rendition's segments are a contiguous slice in playback order and
    // forgetting an asset's outputs is one partition delete. A two-hour film
    // at 2 s segments and 8 renditions is ~29 000 small rows.
    "CREATE TABLE IF NOT EXISTS segments (
        asset_id text,
        rendition text,
        number int,
        start_ns bigint,
        duration_ns bigint,
        size bigint,
        PRIMARY KEY ((asset_id), rendition, number)
    )",
    // jobs: partition = job id. The truth about a job; claims, renewals,
    // completion and failure are lightweight transactions on this row.
    "CREATE TABLE IF NOT EXISTS jobs (
        id text PRIMARY KEY,
        asset_id text,
        kind text,
        state text,
        attempts int,
        max_attempts int,
        lease_owner text,
        lease_until bigint,
        run_after bigint,
        last_error text,
        shard int
    )",
    // jobs_by_asset: partition = asset; clustering job id (creation order).
    "CREATE TABLE IF NOT EXISTS jobs_by_asset (
        asset_id text,
        id text,
        PRIMARY KEY ((asset_id), id)
    )",
    // job_queue: partition = shard (QUEUE_SHARDS of them); clustering
    // (due_at, id). A queued job is due at run_after, a running one at
    // lease_until (when another worker may take it over); done and failed
    // jobs have no entry. A claimer reads the due head of every shard and
    // takes a job with a lightweight transaction on its jobs row, so an entry
    // is only a hint: a stale one is repaired or dropped when seen. Queue
    // entries churn, so tombstones are collected after an hour instead of ten
    // days: an entry a repair resurrects is harmless for the same reason.
    "CREATE TABLE IF NOT EXISTS job_queue (
        shard int,
        due_at bigint,
        id text,
        PRIMARY KEY ((shard), due_at, id)
    ) WITH gc_grace_seconds = 3600",
    // events: partition = block of EVENT_BLOCK sequence numbers; clustering
    // seq. Scylla has no autoincrement: an append reads the last number
    // (SERIAL) and inserts the next one IF NOT EXISTS, so numbers are
    // gapless and number n+1 is only written after n exists: a reader that
    // has seen n has seen everything below it.
    "CREATE TABLE IF NOT EXISTS events (
        block bigint,
        seq bigint,
        asset_id text,
        kind text,
        data text,
        at bigint,
        PRIMARY KEY ((block), seq)
    )",
    // event_blocks: partition = log name; clustering block DESC. Where the
    // newest events are, so a starting process finds the head in one read.
    "CREATE TABLE IF NOT EXISTS event_blocks (
        log text,
        block bigint,
        PRIMARY KEY ((log), block)
    ) WITH CLUSTERING ORDER BY (block DESC)",
];

/// Declares each statement once: its CQL as a constant in [`cql`], the list
/// [`cql::ALL`] for tests, and a field of [`Statements`] prepared at connect.
macro_rules! statements {
    ($($name:ident = $text:expr;)*) => {
        /// The CQL of every statement.
        #[allow(non_upper_case_globals)]
        pub mod cql {
            $(pub const $name: &str = $text;)*
            /// (name, CQL) of every statement.
            #[cfg_attr(not(test), allow(dead_code))]
            pub const ALL: &[(&str, &str)] = &[$((stringify!($name), $name)),*];
        }

        /// Every statement, prepared on the session.
        pub struct Statements {
            $(pub $name: scylla::statement::prepared::PreparedStatement,)*
        }

        impl Statements {
            pub async fn prepare(
                session: &scylla::client::session::Session,
            ) -> Result<Statements, crate::MetadataError> {
                Ok(Statements { $($name: super::prepare(session, cql::$name).await?,)* })
            }
        }
    };
}

statements! {
    // Assets.
    insert_asset = "INSERT INTO assets (id, title, status, progress, private, created_at, updated_at) \
                    VALUES (?, ?, ?, ?, ?, ?, ?)";
    select_asset = "SELECT id, title, status, progress, error, private, source, created_at, updated_at \
                    FROM assets WHERE id = ?";
    update_asset_status = "UPDATE assets SET status = ?, error = ?, progress = ?, updated_at = ? WHERE id = ?";
    update_asset_progress = "UPDATE assets SET progress = ?, updated_at = ? WHERE id = ?";
    update_asset_source = "UPDATE assets SET source = ?, updated_at = ? WHERE id = ?";
    // Conditional: exactly one of two racing deletes reports that it deleted.
    delete_asset_if_exists = "DELETE FROM assets WHERE id = ? IF EXISTS";
    insert_asset_by_time = "INSERT INTO assets_by_time (bucket, id) VALUES (?, ?)";
    delete_asset_by_time = "DELETE FROM assets_by_time WHERE bucket = ? AND id = ?";
    select_ids_by_time = "SELECT id FROM assets_by_time WHERE bucket = ? AND id < ? LIMIT ?";
    insert_asset_by_status = "INSERT INTO assets_by_status (status, bucket, id) VALUES (?, ?, ?)";
    delete_asset_by_status = "DELETE FROM assets_by_status WHERE status = ? AND bucket = ? AND id = ?";
    select_ids_by_status = "SELECT id FROM assets_by_status WHERE status = ? AND bucket = ? AND id < ? LIMIT ?";
    insert_asset_bucket = "INSERT INTO asset_buckets (listing, bucket) VALUES (?, ?)";
    select_asset_buckets = "SELECT bucket FROM asset_buckets WHERE listing = ? AND bucket <= ?";

    // Renditions and segments.
    insert_rendition = "INSERT INTO renditions (asset_id, name, kind, width, height, bitrate, codec) \
                        VALUES (?, ?, ?, ?, ?, ?, ?)";
    select_renditions = "SELECT asset_id, name, kind, width, height, bitrate, codec FROM renditions \
                         WHERE asset_id = ?";
    delete_renditions = "DELETE FROM renditions WHERE asset_id = ?";
    insert_segment = "INSERT INTO segments (asset_id, rendition, number, start_ns, duration_ns, size) \
                      VALUES (?, ?, ?, ?, ?, ?)";
    select_segments = "SELECT asset_id, rendition, number, start_ns, duration_ns, size FROM segments \
                       WHERE asset_id = ? AND rendition = ?";
    delete_segments = "DELETE FROM segments WHERE asset_id = ?";

    // Jobs.
    insert_job = "INSERT INTO jobs (id, asset_id, kind, state, attempts, max_attempts, run_after, shard) \
                  VALUES (?, ?, ?, 'queued', 0, ?, ?, ?)";
    select_job = "SELECT id, asset_id, kind, state, attempts, max_attempts, lease_owner, lease_until, \
                  run_after, last_error, shard FROM jobs WHERE id = ?";
    delete_job = "DELETE FROM jobs WHERE id = ?";
    insert_job_by_asset = "INSERT INTO jobs_by_asset (asset_id, id) VALUES (?, ?)";
    select_job_ids = "SELECT id FROM jobs_by_asset WHERE asset_id = ?";
    delete_jobs_by_asset = "DELETE FROM jobs_by_asset WHERE asset_id = ?";
    insert_queue_entry = "INSERT INTO job_queue (shard, due_at, id) VALUES (?, ?, ?)";
    delete_queue_entry = "DELETE FROM job_queue WHERE shard = ? AND due_at = ? AND id = ?";
    select_due_entries = "SELECT due_at, id FROM job_queue WHERE shard = ? AND due_at <= ? LIMIT ?";
    select_queue_shard = "SELECT due_at, id FROM job_queue WHERE shard = ?";
    // The conditional writes of the queue. Each names the version it saw
    // (state and attempts; attempts grows with every claim), so two workers
    // never both win a job and a stale view never overwrites a newer one.
    claim_queued_job = "UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempts = ? \
                        WHERE id = ? IF state = 'queued' AND attempts = ?";
    claim_expired_job = "UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = ? \
                         WHERE id = ? IF state = 'running' AND lease_until < ? AND attempts = ?";
    fail_expired_job = "UPDATE jobs SET state = 'failed', lease_owner = null, lease_until = null, last_error = ? \
                        WHERE id = ? IF state = 'running' AND lease_until < ? AND attempts = ?";
    renew_job_lease = "UPDATE jobs SET lease_until = ? WHERE id = ? IF state = 'running' AND lease_owner = ?";
    complete_held_job = "UPDATE jobs SET state = 'done', lease_owner = null, lease_until = null \
                         WHERE id = ? IF state = 'running' AND lease_owner = ?";
    retry_held_job = "UPDATE jobs SET state = 'queued', lease_owner = null, lease_until = null, run_after = ?, \
                      last_error = ? WHERE id = ? IF state = 'running' AND lease_owner = ? AND attempts = ?";
    fail_held_job = "UPDATE jobs SET state = 'failed', lease_owner = null, lease_until = null, last_error = ? \
                     WHERE id = ? IF state = 'running' AND lease_owner = ? AND attempts = ?";
    requeue_running_job = "UPDATE jobs SET state = 'queued', lease_owner = null, lease_until = null, \
                           run_after = ? WHERE id = ? IF state = 'running' AND lease_owner = ? AND attempts = ?";

    // Events.
    select_last_event = "SELECT seq FROM events WHERE block = ? ORDER BY seq DESC LIMIT 1";
    // Conditional: the one writer that gets a number keeps it; the others
    // read again and take the next.
    insert_event_if_new = "INSERT INTO events (block, seq, asset_id, kind, data, at) VALUES (?, ?, ?, ?, ?, ?) \
                           IF NOT EXISTS";
    select_events = "SELECT seq, asset_id, kind, data, at FROM events WHERE block = ? AND seq > ? LIMIT ?";
    insert_event_block = "INSERT INTO event_blocks (log, block) VALUES ('events', ?)";
    select_newest_event_block = "SELECT block FROM event_blocks WHERE log = 'events' LIMIT 1";
}

/// Whether a statement is a lightweight transaction.
pub fn is_conditional(cql: &str) -> bool {
    cql.contains(" IF ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_statement_or_table_filters_a_scan() {
        let source = include_str!("schema.rs").to_ascii_uppercase();
        // Spelled in two pieces so this line does not find itself.
        let forbidden = format!("ALLOW {}", "FILTERING");
        assert!(!source.contains(&forbidden), "a read that filters scans partitions it does not name");
        let module = include_str!("mod.rs").to_ascii_uppercase();
        assert!(!module.contains(&forbidden));
        let tables = TABLES.iter().map(|text| ("table", *text));
        for (name, text) in cql::ALL.iter().copied().chain(tables) {
            let upper = text.to_ascii_uppercase();
            assert!(!upper.contains("CREATE INDEX") && !upper.contains("MATERIALIZED"), "{name}");
        }
    }

    #[test]
    fn lightweight_transactions_only_where_a_race_must_have_one_winner() {
        let conditional: Vec<&str> =
            cql::ALL.iter().filter(|(_, text)| is_conditional(text)).map(|(name, _)| *name).collect();
        assert_eq!(
            conditional,
            vec![
                "delete_asset_if_exists",
                "claim_queued_job",
                "claim_expired_job",
                "fail_expired_job",
                "renew_job_lease",
                "complete_held_job",
                "retry_held_job",
                "fail_held_job",
                "requeue_running_job",
                "insert_event_if_new",
            ]
        );
    }

    #[test]
    fn every_read_names_a_partition_key() {
        let partition_keys = [
            ("assets", "id = ?"),
            ("assets_by_time", "bucket = ?"),
            ("assets_by_status", "status = ? AND bucket = ?"),
            ("asset_buckets", "listing = ?"),
            ("renditions", "asset_id = ?"),
            ("segments", "asset_id = ?"),
            ("jobs", "id = ?"),
            ("jobs_by_asset", "asset_id = ?"),
            ("job_queue", "shard = ?"),
            ("events", "block = ?"),
            ("event_blocks", "log = 'events'"),
        ];
        for (name, text) in cql::ALL {
            if !(text.starts_with("SELECT") || text.starts_with("UPDATE") || text.starts_with("DELETE")) {
                continue;
            }
            let table = text
                .split_whitespace()
                .skip_while(|w| !matches!(*w, "FROM" | "UPDATE"))
                .nth(1)
                .unwrap_or_default();
            let (_, key) = partition_keys
                .iter()
                .find(|(t, _)| *t == table)
                .unwrap_or_else(|| panic!("{name} uses unknown table {table}"));
            let filter = text.split(" WHERE ").nth(1).unwrap_or_default();
            assert!(filter.starts_with(key), "{name} must name the partition key {key}: {text}");
        }
    }

    #[test]
    fn statements_and_tables_are_plain_cql_without_a_keyspace() {
        for (name, text) in cql::ALL {
            assert!(!text.contains(';'), "{name}: one statement each");
            assert_eq!(text.matches('(').count(), text.matches(')').count(), "{name}");
            let placeholders = text.matches('?').count();
            assert!(placeholders <= 9, "{name}");
        }
        for table in TABLES {
            assert!(table.starts_with("CREATE TABLE IF NOT EXISTS "), "{table}");
            assert_eq!(table.matches('(').count(), table.matches(')').count(), "{table}");
        }
    }
}
