//! The databases of web and alarm (feature `db`): SQLite (embedded) or PostgreSQL through
//! `sqlx::Any`, each service with one set of migrations for both engines. Queries use `$n`
//! placeholders, which both engines take.
//!
//! A service describes its tables with a [`Schema`]; [`Db::open`] connects and applies the
//! migrations not applied yet. Several instances may open the same fresh PostgreSQL database at
//! once (alarm's active/standby pair, several web instances behind a balancer): a session
//! advisory lock makes them migrate one after the other, since concurrent
//! `CREATE TABLE IF NOT EXISTS` is not safe on PostgreSQL.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

/// Which engine is behind the pool (a few statements differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A database handle, shared by a service's handlers and tasks.
#[derive(Clone)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// The engine.
    pub dialect: Dialect,
}

/// One service's tables.
pub struct Schema {
    /// The prefix of its tables (`web`, `alarm`); applied migrations are recorded in
    /// `<prefix>_migrations`.
    pub prefix: &'static str,
    /// Versioned migrations, applied in order, each in one transaction: statements separated by
    /// `;`, where `{id}` becomes the engine's auto-increment primary key.
    pub migrations: &'static [(i64, &'static str)],
    /// The PostgreSQL advisory lock key that serializes this schema's migrations.
    pub lock: i64,
    /// How long a request waits for a free connection before it fails.
    pub acquire_timeout: Duration,
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The directory of a SQLite file could not be created.
    #[error("creating {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// No connection could be made.
    #[error("connecting to {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A statement failed (while setting up or migrating).
    #[error("{0}")]
    Sql(#[from] sqlx::Error),
}

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and applies `schema`'s
    /// migrations not applied yet.
    pub async fn open(url: &str, schema: &Schema) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                        dir: dir.display().to_string(),
                        source,
                    })?;
                }
            }
        }
        // SQLite allows one writer: a single connection avoids busy errors inside transactions.
        let max = if dialect == Dialect::Sqlite { 1 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(schema.acquire_timeout)
            .connect(url)
            .await
            .map_err(|source| DbError::Connect {
                url: redact_url(url),
                source,
            })?;
        let db = Db { pool, dialect };
        if dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&db.pool)
                .await?;
        }
        db.migrate(schema).await?;
        Ok(db)
    }

    /// Applies the migrations not applied yet, under the schema's advisory lock on PostgreSQL
    /// (SQLite's single connection already serializes them within a process, and its file lock
    /// across processes).
    async fn migrate(&self, schema: &Schema) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let postgres = self.dialect == Dialect::Postgres;
        if postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(schema.lock)
                .execute(&mut *conn)
                .await?;
        }
        let result = self.migrate_on(&mut conn, schema).await;
        if postgres {
            // Also released when the session ends, should this fail.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(schema.lock)
                .execute(&mut *conn)
                .await;
        }
        result
    }

    async fn migrate_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        schema: &Schema,
    ) -> Result<(), sqlx::Error> {
        let table = format!("{}_migrations", schema.prefix);
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (version BIGINT PRIMARY KEY)"
        ))
        .execute(&mut *conn)
        .await?;
        let id = match self.dialect {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        let applied = format!("SELECT version FROM {table} WHERE version = $1");
        let record = format!("INSERT INTO {table} (version) VALUES ($1)");
        for (version, sql) in schema.migrations {
            let done: Option<AnyRow> = sqlx::query(&applied)
                .bind(*version)
                .fetch_optional(&mut *conn)
                .await?;
            if done.is_some() {
                continue;
            }
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            for stmt in sql
                .replace("{id}", id)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                sqlx::query(stmt).execute(&mut *tx).await?;
            }
            sqlx::query(&record)
                .bind(*version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Reads an optional i64 column.
pub fn opt_i64(row: &AnyRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

/// Reads an optional text column.
pub fn opt_str(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = url[s + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        prefix: "dbtest",
        migrations: &[
            (
                1,
                "CREATE TABLE IF NOT EXISTS dbtest_items (id {id}, name TEXT NOT NULL UNIQUE);\
                 CREATE INDEX IF NOT EXISTS dbtest_items_name ON dbtest_items (name)",
            ),
            (2, "ALTER TABLE dbtest_items ADD COLUMN size BIGINT"),
        ],
        lock: 0x6172_6775_7374_7374,
        acquire_timeout: Duration::from_secs(15),
    };

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://a:secret@h:5/db"),
            "postgres://a:***@h:5/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    async fn applied(db: &Db) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM dbtest_migrations")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get("n")
    }

    #[tokio::test]
    async fn migrates_once_on_sqlite_and_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("a/b/test.db").display()
        );
        let db = Db::open(&url, &SCHEMA).await.unwrap();
        assert_eq!(db.dialect, Dialect::Sqlite);
        db.pool.close().await;
        // A second open finds both migrations applied (the ALTER would fail if run again).
        let db = Db::open(&url, &SCHEMA).await.unwrap();
        assert_eq!(applied(&db).await, 2);
        sqlx::query("INSERT INTO dbtest_items (name, size) VALUES ($1, $2)")
            .bind("a")
            .bind(3i64)
            .execute(&db.pool)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_url_without_its_password() {
        let e = Db::open("postgres://argus:hunter2@127.0.0.1:9/none", &SCHEMA)
            .await
            .err()
            .expect("nothing listens on port 9");
        let msg = e.to_string();
        assert!(
            msg.starts_with("connecting to postgres://argus:***@127.0.0.1:9/none: "),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    /// Several instances opening the same fresh PostgreSQL database at once all succeed, and
    /// each migration is applied once. Needs `ARGUS_TEST_PG_URL` (skipped loudly without it,
    /// failed in CI).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_opens_of_a_fresh_postgres_database_all_succeed() {
        let Some(url) = crate::testing::postgres_database("argus_dbtest", "PostgreSQL").await
        else {
            return;
        };
        for round in 0..3 {
            let opens: Vec<_> = (0..6)
                .map(|_| {
                    let url = url.clone();
                    tokio::spawn(async move { Db::open(&url, &SCHEMA).await })
                })
                .collect();
            for o in opens {
                let db = o
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: a concurrent open failed: {e}"));
                assert_eq!(db.dialect, Dialect::Postgres);
                assert_eq!(applied(&db).await, 2);
                db.pool.close().await;
            }
        }
    }
}
