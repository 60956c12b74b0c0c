//! Appends records to `audit.db`: one thread per process owns the
//! connection and commits what arrives together in one transaction (group
//! commit), so concurrent calls share a commit. A caller that must not
//! answer before its record is on disk awaits [`Writer::commit`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::{GENESIS, Record};

/// The most records committed in one transaction.
const BATCH: usize = 512;

struct Job {
    record: Box<Record>,
    done: Option<oneshot::Sender<Result<u64, String>>>,
}

/// The audit writer of this process.
pub struct Writer {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// The last write failed (and why): calls are denied until one works.
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    path: PathBuf,
}

/// Opens (creating) the audit database: WAL, and `synchronous = FULL` when
/// `fsync` (survives power loss) else `NORMAL` (survives a killed process).
pub fn open_db(path: &Path, fsync: bool) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        crate::config::paths::ensure_private_dir(dir)?;
    }
    let conn = Connection::open(path)
        .with_context(|| format!("could not open the audit trail {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    conn.busy_timeout(Duration::from_secs(10))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).context("could not switch the audit trail to WAL mode"),
        }
    }
    conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS records (
             seq  INTEGER PRIMARY KEY,
             id   TEXT NOT NULL UNIQUE,
             time TEXT NOT NULL,
             body TEXT NOT NULL,
             hash TEXT NOT NULL
         );",
    )
    .context("could not set up the audit trail")?;
    Ok(conn)
}

impl Writer {
    /// Opens the trail and starts the writing thread.
    pub fn start(path: &Path, fsync: bool) -> Result<Arc<Self>> {
        let mut conn = open_db(path, fsync)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let writer = Arc::new(Self {
            jobs: Mutex::new(tx),
            failing: AtomicBool::new(false),
            last_error: Mutex::new(None),
            path: path.to_path_buf(),
        });
        let me = Arc::downgrade(&writer);
        std::thread::Builder::new()
            .name("toolgate-audit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let result = append(&mut conn, &mut batch);
                    if let Some(w) = me.upgrade() {
                        w.note(&result);
                    }
                    for (i, job) in batch.into_iter().enumerate() {
                        if let Some(done) = job.done {
                            let _ = done.send(match &result {
                                Ok(first_seq) => Ok(first_seq + i as u64),
                                Err(e) => Err(e.clone()),
                            });
                        }
                    }
                }
            })
            .context("could not start the audit writer")?;
        Ok(writer)
    }

    /// A writer that cannot write (the trail could not be opened): every
    /// call is denied with `why` (fail closed).
    pub fn broken(path: &Path, why: String) -> Arc<Self> {
        let (tx, _) = mpsc::channel::<Job>();
        Arc::new(Self {
            jobs: Mutex::new(tx),
            failing: AtomicBool::new(true),
            last_error: Mutex::new(Some(why)),
            path: path.to_path_buf(),
        })
    }

    fn note(&self, result: &Result<u64, String>) {
        match result {
            Ok(_) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the audit trail can be written again");
                }
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "the audit trail cannot be written ({e}); calls are denied until it can"
                    );
                }
                *self.last_error.lock().expect("audit error lock") = Some(e.clone());
            }
        }
    }

    /// Why calls must be denied now (the last write failed), if they must.
    pub fn failing(&self) -> Option<String> {
        if self.failing.load(Ordering::Relaxed) {
            self.last_error.lock().expect("audit error lock").clone()
        } else {
            None
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record and waits until it is committed; its `seq`.
    pub async fn commit(&self, record: Record) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        self.send(Job {
            record: Box::new(record),
            done: Some(tx),
        })?;
        rx.await
            .map_err(|_| "the audit writer stopped".to_string())?
    }

    /// Appends a record without waiting (governance events).
    pub fn submit(&self, record: Record) {
        let _ = self.send(Job {
            record: Box::new(record),
            done: None,
        });
    }

    fn send(&self, job: Job) -> Result<(), String> {
        self.jobs
            .lock()
            .expect("audit jobs lock")
            .send(job)
            .map_err(|_| "the audit writer stopped".to_string())
    }
}

/// Appends a batch in one transaction, chaining each record to the last
/// one on disk (whichever process wrote it). Returns the first `seq`.
fn append(conn: &mut Connection, batch: &mut [Job]) -> Result<u64, String> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let last: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(|e| e.to_string())?;
    let (last_seq, mut prev) = last.unwrap_or((0, GENESIS.to_string()));
    let mut seq = last_seq.max(0) as u64;
    let first = seq + 1;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO records (seq, id, time, body, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(|e| e.to_string())?;
        for job in batch.iter_mut() {
            seq += 1;
            let r = &mut job.record;
            r.seq = seq;
            r.prev = std::mem::take(&mut prev);
            let (body, hash) = r.seal()?;
            insert
                .execute(rusqlite::params![seq as i64, r.id, r.time, body, hash])
                .map_err(|e| e.to_string())?;
            prev = hash;
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(first)
}

static WRITER: OnceLock<Arc<Writer>> = OnceLock::new();

/// Puts the process's writer in place (once).
pub fn install(w: Arc<Writer>) {
    let _ = WRITER.set(w);
}

/// The process's writer, where auditing is on.
pub fn current() -> Option<&'static Arc<Writer>> {
    WRITER.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_writers_share_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("audit.db");
        let a = Writer::start(&db, false).unwrap();
        let b = Writer::start(&db, false).unwrap();
        let mut seqs = Vec::new();
        for i in 0..50 {
            let w = if i % 2 == 0 { &a } else { &b };
            seqs.push(w.commit(Record::new("call")).await.unwrap());
        }
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        let conn = open_db(&db, false).unwrap();
        let mut stmt = conn
            .prepare("SELECT seq, body, hash FROM records ORDER BY seq")
            .unwrap();
        let rows: Vec<(u64, String, String)> = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let (n, problems) = super::super::verify_rows(
            rows.iter().map(|(s, b, h)| (*s, b.as_str(), h.as_str())),
            Some(GENESIS),
        );
        assert_eq!(n, 50);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
