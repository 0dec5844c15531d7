//! The behaviour every plugin-store backend must have. Each behaviour is one
//! async fn in `behaviour` that takes a fresh `Stores` (nothing in it yet);
//! `contract!` runs every one of them against each backend:
//! - `sqlite::*`: a fresh temporary directory of SQLite files;
//! - `mysql::*`: a fresh database prefix on a real MariaDB server that
//!   `cdlc_testkit::mariadb` starts once for this test binary (or
//!   the MySQL / MariaDB server `CDLC_TEST_MYSQL` names).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cdlc_plugin_store::{params, Engine, FromRow, Migration, Planned, Row, Sql, StoreError, Stores};
use cdlc_testkit::mariadb::MariaDbServer;

/// A fresh SQLite directory; the TempDir lives as long as the test.
fn sqlite_stores() -> (tempfile::TempDir, Stores) {
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = Stores::sqlite(dir.path());
    (dir, stores)
}

/// Stores under a fresh prefix of the shared MariaDB server.
fn mysql_stores() -> Stores {
    let server = MariaDbServer::shared();
    let url = server.url(&server.fresh_prefix());
    Stores::open(&url).unwrap_or_else(|error| panic!("{url}: {error}"))
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_dir, stores) = super::sqlite_stores();
                    super::behaviour::$name(stores).await;
                }
            )*
        }

        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let stores = super::mysql_stores();
                    super::behaviour::$name(stores).await;
                }
            )*
        }
    };
}

contract!(
    rows_are_read_by_column_name,
    a_duplicate_key_is_a_conflict,
    migrations_apply_once_in_order,
    processes_migrating_at_once_apply_each_migration_once,
    a_store_newer_or_reordered_than_the_build_is_refused,
    a_failed_migration_is_not_recorded,
    a_transaction_commits_or_rolls_back_as_a_whole,
    a_busy_store_makes_the_transaction_wait_and_retry,
    racing_read_then_write_transactions_lose_no_update,
    a_dropped_transaction_rolls_back_and_frees_the_store,
    a_tx_outlives_its_transaction_only_to_be_refused,
    sql_outside_the_portable_subset_is_refused,
    each_name_is_a_store_of_its_own,
    an_index_dropped_and_created_again_serves_the_same_rows,
    a_migration_drops_an_index_in_the_portable_form,
    planned_statements_run_in_order_and_one_failing_undoes_them_all,
);

mod behaviour {
    use super::*;

    const MOVIES: Migration = Migration {
        name: "0001_movies",
        statements: &[
            "CREATE TABLE movies (id VARCHAR(36) PRIMARY KEY, title VARCHAR(200) NOT NULL, year BIGINT, \
             rating DOUBLE, public BOOLEAN NOT NULL, poster BLOB, notes TEXT)",
            "CREATE UNIQUE INDEX movies_by_title ON movies (title)",
        ],
    };
    const COUNTERS: Migration = Migration {
        name: "0002_counters",
        statements: &["CREATE TABLE counters (id VARCHAR(36) PRIMARY KEY, n BIGINT NOT NULL)"],
    };

    #[derive(Debug, PartialEq)]
    struct Movie {
        id: String,
        title: String,
        year: Option<i64>,
        rating: Option<f64>,
        public: bool,
        poster: Option<Vec<u8>>,
    }

    impl FromRow for Movie {
        fn from_row(row: &Row) -> Result<Movie, StoreError> {
            Ok(Movie {
                id: row.get("id")?,
                title: row.get("title")?,
                year: row.get("year")?,
                rating: row.get("rating")?,
                public: row.get("public")?,
                poster: row.get("poster")?,
            })
        }
    }

    async fn counter(db: &impl Sql, id: &str) -> i64 {
        let row: Row = db
            .query_opt("SELECT n FROM counters WHERE id = ?", params![id])
            .await
            .expect("read")
            .expect("row");
        row.get("n").expect("n")
    }

    pub async fn rows_are_read_by_column_name(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES]).await.expect("migrate");
        let inserted = db
            .execute(
                "INSERT INTO movies (id, title, year, rating, public, poster) VALUES (?, ?, ?, ?, ?, ?)",
                params!["m1", "Stalker", 1979, 8.1, true, vec![0u8, 255, 7]],
            )
            .await
            .expect("insert");
        assert_eq!(inserted, 1);
        db.execute(
            "INSERT INTO movies (id, title, year, rating, public, poster) VALUES (?, ?, ?, ?, ?, ?)",
            params!["m2", "Solaris", None::<i64>, None::<f64>, false, None::<Vec<u8>>],
        )
        .await
        .expect("insert with nulls");

        // Columns in another order than the struct's: read by name, not position.
        let movies: Vec<Movie> = db
            .query_as("SELECT poster, public, rating, year, title, id FROM movies ORDER BY id", params![])
            .await
            .expect("select");
        assert_eq!(
            movies,
            vec![
                Movie {
                    id: "m1".into(),
                    title: "Stalker".into(),
                    year: Some(1979),
                    rating: Some(8.1),
                    public: true,
                    poster: Some(vec![0, 255, 7])
                },
                Movie {
                    id: "m2".into(),
                    title: "Solaris".into(),
                    year: None,
                    rating: None,
                    public: false,
                    poster: None
                },
            ]
        );

        let row: Row = db
            .query_opt("SELECT title AS name, year FROM movies WHERE id = ?", params!["m1"])
            .await
            .unwrap()
            .unwrap();
        let missing = row.get::<String>("title").unwrap_err().to_string();
        assert!(missing.contains("no such column") && missing.contains("name, year"), "{missing}");
        let wrong = row.get::<i64>("name").unwrap_err().to_string();
        assert!(wrong.contains("expected an integer, found text"), "{wrong}");
        let null = row.get::<i64>("year").expect("year");
        assert_eq!(null, 1979);

        let none: Option<Movie> =
            db.query_opt("SELECT * FROM movies WHERE id = ?", params!["nope"]).await.unwrap();
        assert!(none.is_none());
        let changed =
            db.execute("UPDATE movies SET year = ? WHERE year IS NULL", params![1972]).await.unwrap();
        assert_eq!(changed, 1, "execute counts the rows it changed");
    }

    pub async fn a_duplicate_key_is_a_conflict(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES]).await.expect("migrate");
        let insert = "INSERT INTO movies (id, title, public) VALUES (?, ?, ?)";
        db.execute(insert, params!["m1", "Stalker", true]).await.expect("first");
        let same_id = db.execute(insert, params!["m1", "Other", true]).await.unwrap_err();
        assert!(matches!(same_id, StoreError::Conflict(_)), "{same_id}");
        let same_title = db.execute(insert, params!["m2", "Stalker", true]).await.unwrap_err();
        assert!(matches!(same_title, StoreError::Conflict(_)), "{same_title}");
        // Byte-wise comparison on every backend: case differs, no conflict.
        db.execute(insert, params!["m3", "STALKER", true]).await.expect("another case is another title");
        let count: Row = db.query_opt("SELECT COUNT(*) AS n FROM movies", params![]).await.unwrap().unwrap();
        assert_eq!(count.get::<i64>("n").unwrap(), 2);
    }

    pub async fn migrations_apply_once_in_order(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        assert_eq!(db.migrate(&[MOVIES]).await.expect("first"), vec!["0001_movies"]);
        assert!(db.migrate(&[MOVIES]).await.expect("again").is_empty(), "applied once");
        assert_eq!(db.migrate(&[MOVIES, COUNTERS]).await.expect("more"), vec!["0002_counters"]);
        db.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["c", 0]).await.expect("new table");

        // A second handle on the same store (another process) sees them applied.
        let again = stores.db("films").await.expect("reopen");
        assert!(again.migrate(&[MOVIES, COUNTERS]).await.expect("reopened").is_empty());
        let rows =
            again.query("SELECT name FROM cdlc_migrations ORDER BY position", params![]).await.unwrap();
        let names: Vec<String> = rows.iter().map(|r| r.get("name").unwrap()).collect();
        assert_eq!(names, ["0001_movies", "0002_counters"]);
    }

    pub async fn processes_migrating_at_once_apply_each_migration_once(stores: Stores) {
        // Four handles (four processes starting together) migrate one store.
        let mut handles = Vec::new();
        for _ in 0..4 {
            handles.push(stores.db("films").await.expect("open"));
        }
        let start = Arc::new(tokio::sync::Barrier::new(handles.len()));
        let runs: Vec<_> = handles
            .into_iter()
            .map(|db| {
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    db.migrate(&[MOVIES, COUNTERS]).await
                })
            })
            .collect();
        let mut applied = Vec::new();
        for run in runs {
            applied.extend(run.await.expect("task").expect("migrate"));
        }
        applied.sort();
        assert_eq!(applied, ["0001_movies", "0002_counters"], "each migration applied by exactly one");
    }

    pub async fn a_store_newer_or_reordered_than_the_build_is_refused(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES, COUNTERS]).await.expect("migrate");
        let older_build = db.migrate(&[MOVIES]).await.unwrap_err().to_string();
        assert!(
            older_build.contains("0002_counters") && older_build.contains("upgrade cdlc"),
            "{older_build}"
        );
        let renamed = Migration { name: "0001_films", statements: MOVIES.statements };
        let reordered = db.migrate(&[renamed, COUNTERS]).await.unwrap_err().to_string();
        assert!(reordered.contains("never be renamed"), "{reordered}");
        let twice = db.migrate(&[MOVIES, MOVIES]).await.unwrap_err().to_string();
        assert!(twice.contains("two migrations are named"), "{twice}");
    }

    pub async fn a_failed_migration_is_not_recorded(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        let broken = Migration {
            name: "0002_broken",
            statements: &["CREATE TABLE broken (id BIGINT PRIMARY KEY, x NOPE(3) ("],
        };
        let error = db.migrate(&[MOVIES, broken]).await.unwrap_err().to_string();
        assert!(error.contains("0002_broken failed"), "{error}");
        // The good one stays applied, the broken one can be fixed and applied.
        let fixed =
            Migration { name: "0002_broken", statements: &["CREATE TABLE broken (id BIGINT PRIMARY KEY)"] };
        assert_eq!(db.migrate(&[MOVIES, fixed]).await.expect("fixed"), vec!["0002_broken"]);
    }

    pub async fn a_transaction_commits_or_rolls_back_as_a_whole(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES, COUNTERS]).await.expect("migrate");
        db.transaction(|tx| async move {
            tx.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["a", 1]).await?;
            tx.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["b", 2]).await?;
            assert_eq!(counter(&tx, "b").await, 2, "a transaction reads its own writes");
            Ok::<_, StoreError>(())
        })
        .await
        .expect("commit");
        assert_eq!((counter(&db, "a").await, counter(&db, "b").await), (1, 2));

        #[derive(Debug)]
        enum Refused {
            Store(StoreError),
            Rule(&'static str),
        }
        impl From<StoreError> for Refused {
            fn from(e: StoreError) -> Refused {
                Refused::Store(e)
            }
        }
        let refused = db
            .transaction(|tx| async move {
                tx.execute("UPDATE counters SET n = n + 10", params![]).await?;
                tx.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["c", 3]).await?;
                Err::<(), _>(Refused::Rule("the caller's own reason"))
            })
            .await
            .unwrap_err();
        assert!(matches!(refused, Refused::Rule("the caller's own reason")), "{refused:?}");
        let failed = db
            .transaction(|tx| async move {
                tx.execute("UPDATE counters SET n = n + 10", params![]).await?;
                tx.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["a", 3]).await?;
                Ok::<_, Refused>(())
            })
            .await
            .unwrap_err();
        assert!(matches!(failed, Refused::Store(StoreError::Conflict(_))), "{failed:?}");
        assert_eq!((counter(&db, "a").await, counter(&db, "b").await), (1, 2), "nothing of either stayed");
        let c: Option<Row> = db.query_opt("SELECT n FROM counters WHERE id = ?", params!["c"]).await.unwrap();
        assert!(c.is_none());
    }

    pub async fn a_busy_store_makes_the_transaction_wait_and_retry(stores: Stores) {
        // MySQL waits whole seconds (this is one there), so the holder keeps
        // its lock longer than that.
        let stores = stores.with_busy_timeout(Duration::from_millis(250));
        let engine = stores.engine();
        let holder = stores.db("films").await.expect("open");
        holder.migrate(&[MOVIES, COUNTERS]).await.expect("migrate");
        holder.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["c", 0]).await.unwrap();
        // Another handle on the same store: another process, as far as locks go.
        let other = stores.db("films").await.expect("second handle");

        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel::<()>();
        let hold = tokio::spawn({
            let holder = holder.clone();
            async move {
                let mut locked = Some(locked_tx);
                holder
                    .transaction(|tx| {
                        let locked = locked.take();
                        async move {
                            tx.execute("UPDATE counters SET n = n + 1 WHERE id = ?", params!["c"]).await?;
                            if let Some(locked) = locked {
                                let _ = locked.send(());
                            }
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                            Ok::<_, StoreError>(())
                        }
                    })
                    .await
            }
        });
        locked_rx.await.expect("the holder took the lock");

        // Outside a transaction, a write waits the busy timeout and says so.
        let started = Instant::now();
        let busy =
            other.execute("UPDATE counters SET n = n + 100 WHERE id = ?", params!["c"]).await.unwrap_err();
        assert!(busy.is_retryable(), "{busy}");
        assert!(busy.to_string().contains("busy"), "{busy}");
        assert!(started.elapsed() >= Duration::from_millis(240), "it waited for the lock first");

        // A transaction runs again until the holder is done, then sees its write.
        let seen = other
            .transaction(|tx| async move {
                let before = counter(&tx, "c").await;
                tx.execute("UPDATE counters SET n = n + 1 WHERE id = ?", params!["c"]).await?;
                Ok::<_, StoreError>(before)
            })
            .await
            .expect("the transaction got through after retries");
        hold.await.unwrap().expect("holder committed");
        if engine == Engine::Sqlite {
            // SQLite's transaction holds the write lock from its start: it
            // began after the holder committed. MySQL's read sees what was
            // committed when it ran, and its write waited on the row lock.
            assert_eq!(seen, 1, "it ran after the holder committed");
        }
        assert_eq!(counter(&holder, "c").await, 2, "neither update was lost");
    }

    pub async fn racing_read_then_write_transactions_lose_no_update(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES, COUNTERS]).await.expect("migrate");
        db.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["c", 0]).await.unwrap();
        let second = stores.db("films").await.expect("second handle");
        let mut tasks = Vec::new();
        for i in 0..16 {
            let db = if i % 2 == 0 { db.clone() } else { second.clone() };
            tasks.push(tokio::spawn(async move {
                // Read, then write conditionally on what was read: the
                // portable way to make read-modify-write safe.
                loop {
                    let written = db
                        .transaction(|tx| async move {
                            let n = counter(&tx, "c").await;
                            tx.execute(
                                "UPDATE counters SET n = ? WHERE id = ? AND n = ?",
                                params![n + 1, "c", n],
                            )
                            .await
                        })
                        .await
                        .expect("transaction");
                    if written == 1 {
                        break;
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(counter(&db, "c").await, 16);
    }

    pub async fn a_dropped_transaction_rolls_back_and_frees_the_store(stores: Stores) {
        let stores = stores.with_busy_timeout(Duration::from_millis(500));
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES, COUNTERS]).await.expect("migrate");
        let abandoned = tokio::time::timeout(
            Duration::from_millis(200),
            db.transaction(|tx| async move {
                tx.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["gone", 1]).await?;
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<_, StoreError>(())
            }),
        )
        .await;
        assert!(abandoned.is_err(), "the transaction was cut off by the timeout");
        let other = stores.db("films").await.expect("second handle");
        other
            .execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["kept", 1])
            .await
            .expect("the lock was freed");
        let gone: Option<Row> =
            other.query_opt("SELECT n FROM counters WHERE id = ?", params!["gone"]).await.unwrap();
        assert!(gone.is_none(), "the abandoned write was rolled back");
        // Its row is free too: no lock of the abandoned transaction is left.
        other
            .execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["gone", 2])
            .await
            .expect("the abandoned row's key is free");
    }

    pub async fn a_tx_outlives_its_transaction_only_to_be_refused(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES, COUNTERS]).await.expect("migrate");
        let stash = Arc::new(std::sync::Mutex::new(None));
        db.transaction(|tx| {
            let stash = stash.clone();
            async move {
                *stash.lock().unwrap() = Some(tx);
                Ok::<_, StoreError>(())
            }
        })
        .await
        .expect("commit");
        let tx = stash.lock().unwrap().take().expect("stashed");
        let late =
            tx.execute("INSERT INTO counters (id, n) VALUES (?, ?)", params!["late", 1]).await.unwrap_err();
        assert!(matches!(late, StoreError::TxEnded), "{late}");
    }

    /// Runs `statements` with `Tx::execute_all` in one transaction.
    async fn run_planned(
        db: &cdlc_plugin_store::Db,
        statements: &[(&str, &[cdlc_plugin_store::Value])],
    ) -> Result<u64, StoreError> {
        let planned: Planned =
            Arc::new(statements.iter().map(|(sql, params)| (sql.to_string(), params.to_vec())).collect());
        db.transaction(|tx| {
            let planned = planned.clone();
            async move { tx.execute_all(&planned).await }
        })
        .await
    }

    pub async fn planned_statements_run_in_order_and_one_failing_undoes_them_all(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES]).await.expect("migrate");
        let insert = "INSERT INTO movies (id, title, public) VALUES (?, ?, ?)";
        let changed = run_planned(
            &db,
            &[
                (
                    "INSERT INTO movies (id, title, public) VALUES (?, ?, ?), (?, ?, ?)",
                    params!["m1", "Stalker", true, "m2", "Solaris", false],
                ),
                ("UPDATE movies SET year = ? WHERE id = ?", params![1979, "m1"]),
                ("DELETE FROM movies WHERE id = ?", params!["m2"]),
            ],
        )
        .await
        .expect("run");
        assert_eq!(changed, 4, "two inserted, one updated, one deleted");
        let movies: Vec<Movie> = db.query_as("SELECT * FROM movies", params![]).await.expect("read");
        assert_eq!(movies.len(), 1);
        assert_eq!((movies[0].id.as_str(), movies[0].year), ("m1", Some(1979)));

        // The second statement conflicts: the first one's row is undone with it.
        let error = run_planned(
            &db,
            &[(insert, params!["m3", "Mirror", true]), (insert, params!["m1", "Again", true])],
        )
        .await
        .unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error}");
        let ids: Vec<String> = db
            .query("SELECT id FROM movies ORDER BY id", params![])
            .await
            .expect("read")
            .iter()
            .map(|r| r.get("id").expect("id"))
            .collect();
        assert_eq!(ids, ["m1"]);

        // A statement outside the portable subset is refused before any runs.
        let error = run_planned(
            &db,
            &[
                (insert, params!["m4", "Nostalghia", true]),
                ("INSERT OR IGNORE INTO movies (id, title, public) VALUES ('m5', 'x', 1)", params![]),
            ],
        )
        .await
        .unwrap_err();
        assert!(matches!(error, StoreError::NotPortable { .. }), "{error}");
        let count: Row = db.query_opt("SELECT COUNT(*) AS n FROM movies", params![]).await.unwrap().unwrap();
        assert_eq!(count.get::<i64>("n").unwrap(), 1);
    }

    pub async fn sql_outside_the_portable_subset_is_refused(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        let error =
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)", params![]).await.unwrap_err();
        assert!(matches!(error, StoreError::NotPortable { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("AUTOINCREMENT") && message.contains("UUIDv7"), "{message}");
        let upsert = Migration { name: "0001", statements: &["INSERT OR IGNORE INTO t VALUES (1)"] };
        let error = db.migrate(&[upsert]).await.unwrap_err().to_string();
        assert!(error.contains("0001 failed") && error.contains("portable"), "{error}");
        let tables = db.query("SELECT name FROM cdlc_migrations", params![]).await.unwrap();
        assert!(tables.is_empty());
    }

    pub async fn each_name_is_a_store_of_its_own(stores: Stores) {
        let catalog = stores.db("catalog").await.expect("catalog");
        let social = stores.db("social").await.expect("social");
        catalog.migrate(&[MOVIES]).await.expect("catalog migrates");
        assert_eq!(social.migrate(&[MOVIES]).await.expect("social migrates its own"), vec!["0001_movies"]);
        catalog
            .execute("INSERT INTO movies (id, title, public) VALUES (?, ?, ?)", params!["m", "Mirror", true])
            .await
            .unwrap();
        let theirs = social.query("SELECT id FROM movies", params![]).await.unwrap();
        assert!(theirs.is_empty(), "one store's rows are not another's");
        let bad = stores.db("../etc").await.unwrap_err().to_string();
        assert!(bad.contains("lower-case letters"), "{bad}");
    }

    pub async fn an_index_dropped_and_created_again_serves_the_same_rows(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        db.migrate(&[MOVIES]).await.expect("migrates");
        db.execute("CREATE INDEX movies_by_year ON movies (year, id)", params![]).await.unwrap();
        assert_eq!(db.indexes("movies").await.unwrap(), vec!["movies_by_title", "movies_by_year"]);
        db.drop_index("movies", "movies_by_year").await.expect("drops");
        db.drop_index("movies", "movies_by_title").await.expect("drops a unique index too");
        assert!(db.indexes("movies").await.unwrap().is_empty(), "the primary key is not listed");
        for (id, title, year) in [("b", "Brazil", 1985), ("a", "Alien", 1979), ("c", "Cube", 1997)] {
            db.execute(
                "INSERT INTO movies (id, title, year, public) VALUES (?, ?, ?, ?)",
                params![id, title, year, true],
            )
            .await
            .unwrap();
        }
        db.execute("CREATE INDEX movies_by_year ON movies (year, id)", params![]).await.unwrap();
        db.execute("CREATE UNIQUE INDEX movies_by_title ON movies (title)", params![]).await.unwrap();
        assert_eq!(db.indexes("movies").await.unwrap(), vec!["movies_by_title", "movies_by_year"]);
        let ids: Vec<String> = db
            .query("SELECT id FROM movies WHERE year > ? ORDER BY year", params![1980])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("id").unwrap())
            .collect();
        assert_eq!(ids, vec!["b", "c"]);
        let duplicate = db
            .execute("INSERT INTO movies (id, title, public) VALUES (?, ?, ?)", params!["d", "Cube", true])
            .await;
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "the unique index is back");
        let error = db.drop_index("movies", "movies; DROP TABLE movies").await.unwrap_err();
        assert!(matches!(error, StoreError::BadName(_)), "{error}");
        assert_eq!(db.indexes("movies").await.unwrap().len(), 2);
    }

    /// `DROP INDEX i ON t` in a migration drops the index on every backend.
    pub async fn a_migration_drops_an_index_in_the_portable_form(stores: Stores) {
        let db = stores.db("films").await.expect("open");
        const DROP_TITLES: Migration =
            Migration { name: "0002_no_title_index", statements: &["DROP INDEX movies_by_title ON movies"] };
        db.migrate(&[MOVIES]).await.expect("migrates");
        assert_eq!(db.indexes("movies").await.unwrap(), vec!["movies_by_title"]);
        db.migrate(&[MOVIES, DROP_TITLES]).await.expect("the drop migrates");
        assert!(db.indexes("movies").await.unwrap().is_empty());
        for id in ["a", "b"] {
            db.execute("INSERT INTO movies (id, title, public) VALUES (?, ?, ?)", params![id, "Cube", true])
                .await
                .expect("a title twice, now that nothing keeps it unique");
        }
    }
}

/// SQLite only: a store opened for bulk loads is a file of 16 KiB pages,
/// one for transactions of 4 KiB pages, and a file that exists keeps the
/// pages it was made with whatever the later opening says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_loaded_sqlite_store_has_large_pages_and_a_file_keeps_its_own() {
    use cdlc_plugin_store::Workload;
    let (dir, stores) = sqlite_stores();
    let page_size = |name: &str| -> i64 {
        let connection = rusqlite::Connection::open(dir.path().join(format!("{name}.db"))).expect("open");
        connection.query_row("PRAGMA page_size", [], |row| row.get(0)).expect("page_size")
    };
    let table = "CREATE TABLE t (id VARCHAR(36) PRIMARY KEY)";
    let bulk = stores.db_for("bulk", Workload::BulkLoads).await.expect("bulk store");
    bulk.execute(table, params![]).await.expect("create");
    let small = stores.db("small").await.expect("default store");
    small.execute(table, params![]).await.expect("create");
    drop((bulk, small));
    assert_eq!(page_size("bulk"), 16384);
    assert_eq!(page_size("small"), 4096);

    let again = stores.db_for("small", Workload::BulkLoads).await.expect("reopened");
    again.execute("INSERT INTO t (id) VALUES (?)", params!["a"]).await.expect("insert");
    drop(again);
    assert_eq!(page_size("small"), 4096, "an existing file keeps its page size");
}
