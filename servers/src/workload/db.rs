//! The database workload: per-name visit counts in a real SQLite file.
//!
//! Every call here *blocks* the calling thread on file I/O and on SQLite's locks (and on the writers' turn). Thread servers simply call it;
//! async servers must move it off the executor (`smol::unblock`, `async_std::task::spawn_blocking`), or one slow
//! `fsync` stalls every task on that executor thread.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a visit whose response was sent has been fsynced to the
//! WAL and survives a SIGKILL or a power cut. Each visit is one `BEGIN IMMEDIATE` transaction: it takes the write
//! lock up front, so concurrent visits from any thread or process queue on the lock (`busy_timeout`) instead of
//! failing with SQLITE_BUSY on a read-to-write upgrade. N concurrent visits leave the count at exactly N.

use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long a visit waits for another writer (thread or process) before giving up with a 500.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct VisitDb {
    /// The database file, shared by every process of a `--processes` server.
    path: PathBuf,
    /// Idle connections. Opening a connection costs a few syscalls and a schema read, so they are reused;
    /// SQLite connections must not be used by two threads at once, so each call takes one out of the pool.
    idle: Mutex<Vec<Connection>>,
    /// Writers of this process take turns here. SQLite allows one writer at a time, and its busy handler waits
    /// for the write lock by *sleeping* with a backoff of up to 100 ms per try, so a hundred writers contending
    /// inside one process spend most of their time asleep (measured: 5× fewer visits per second at 100
    /// concurrent visits than with this lock). A mutex hands the turn over at once. Across the processes of
    /// `--processes`, the busy timeout still arbitrates.
    writer: Mutex<()>,
}

impl VisitDb {
    /// Opens (creating if needed) the database at `path` and checks that it is usable.
    pub fn open(path: &Path) -> rusqlite::Result<VisitDb> {
        let db = VisitDb { path: path.to_path_buf(), idle: Mutex::new(Vec::new()), writer: Mutex::new(()) };
        let conn = db.connect()?;
        db.idle.lock().unwrap().push(conn);
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS visits (name TEXT PRIMARY KEY, count INTEGER NOT NULL) STRICT;",
        )?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection, returning the connection to the pool afterwards.
    fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let pooled = self.idle.lock().unwrap().pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = f(&mut conn);
        self.idle.lock().unwrap().push(conn);
        result
    }

    /// Counts one visit of `name` in its own transaction and returns the new count.
    /// Blocks: on the write lock, then on the WAL fsync at commit.
    pub fn visit(&self, name: &str) -> rusqlite::Result<i64> {
        // Blocks until this process's other writers are done (see `writer`).
        let _turn = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.with_connection(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let count = tx.query_row(
                "INSERT INTO visits (name, count) VALUES (?1, 1)
                 ON CONFLICT (name) DO UPDATE SET count = count + 1
                 RETURNING count",
                [name],
                |row| row.get(0),
            )?;
            tx.commit()?;
            Ok(count)
        })
    }

    /// The current count of `name`, 0 if it was never visited. Read-only.
    pub fn visits(&self, name: &str) -> rusqlite::Result<i64> {
        self.with_connection(|conn| {
            let count =
                conn.query_row("SELECT count FROM visits WHERE name = ?1", [name], |row| row.get(0)).optional()?;
            Ok(count.unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_visits_across_threads() {
        let path = std::env::temp_dir().join(format!("visits-unit-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let db = VisitDb::open(&path).unwrap();
        assert_eq!(db.visits("x").unwrap(), 0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..10 {
                        db.visit("x").unwrap();
                    }
                });
            }
        });
        assert_eq!(db.visits("x").unwrap(), 80);
        assert_eq!(db.visit("y").unwrap(), 1);
        drop(db);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
