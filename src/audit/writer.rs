//! Appends records to `audit.db`. A call that must not be answered before
//! its record is on disk awaits [`Writer::commit`]: the first caller in
//! becomes the leader, lets the other ready tasks add their records (one
//! yield), and commits them all in one transaction on its own thread
//! (group commit without a thread hop, which costs more than the commit on
//! a busy machine). Governance events use [`Writer::submit`], which commits
//! at once unless a leader is about to.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::sign::{Checkpoint, KeyState, Signer};
use super::{GENESIS, Record};

struct Job {
    record: Box<Record>,
    done: Option<oneshot::Sender<Result<u64, String>>>,
}

struct State {
    /// `None`: the trail could not be opened.
    conn: Option<Connection>,
    queue: Vec<Job>,
    /// A caller will commit the queue shortly.
    leader: bool,
}

/// The audit writer of this process.
pub struct Writer {
    state: Mutex<State>,
    /// The last write failed (and why): calls are denied until one works.
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    path: PathBuf,
    /// The spool is over its bounds and the org says to deny (why).
    spool_full: Mutex<Option<String>>,
    spool_full_flag: AtomicBool,
    /// A checkpoint every this many records (0: none by count).
    checkpoint_every: u64,
    /// Signs checkpoints (until set: they wait).
    signer: OnceLock<Arc<Signer>>,
}

/// Commits the queue when dropped (so a leader that is cancelled still
/// commits what it led).
struct Lead<'a>(&'a Writer);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// Opens (creating) the audit database: WAL, and `synchronous = FULL` when
/// `fsync` (survives power loss) else `NORMAL` (survives a killed process).
pub fn open_db(path: &Path, fsync: bool) -> Result<Connection> {
    let conn = crate::store::open_wal(path, "the audit trail", Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS records (
             seq  INTEGER PRIMARY KEY,
             id   TEXT NOT NULL,
             time TEXT NOT NULL,
             body TEXT NOT NULL,
             hash TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS checkpoints (
             seq  INTEGER PRIMARY KEY,
             body TEXT NOT NULL,
             sig  TEXT
         );",
    )
    .context("could not set up the audit trail")?;
    super::upload::init(&conn).context("could not set up the audit trail")?;
    Ok(conn)
}

impl Writer {
    /// Opens the trail; a signed checkpoint every `checkpoint_every`
    /// records (0: only on [`Writer::checkpoint`]).
    pub fn start(path: &Path, fsync: bool, checkpoint_every: u64) -> Result<Arc<Self>> {
        let conn = open_db(path, fsync)?;
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                conn: Some(conn),
                queue: Vec::new(),
                leader: false,
            }),
            failing: AtomicBool::new(false),
            last_error: Mutex::new(None),
            path: path.to_path_buf(),
            spool_full: Mutex::new(None),
            spool_full_flag: AtomicBool::new(false),
            checkpoint_every,
            signer: OnceLock::new(),
        }))
    }

    /// Gives the writer its checkpoint signer (once).
    pub fn set_signer(&self, signer: Arc<Signer>) {
        let _ = self.signer.set(signer);
    }

    fn key_state(&self) -> KeyState {
        self.signer.get().map_or(KeyState::Loading, |s| s.state())
    }

    /// Writes a checkpoint over the chain as it stands, unless the last
    /// record already has one (or the key is still loading; at shutdown it
    /// is waited for, a few seconds at most). Its `seq`.
    pub fn checkpoint(&self, reason: &str) -> Result<Option<u64>, String> {
        let key = match self.signer.get() {
            Some(s) if reason == "shutdown" => s.wait(Duration::from_secs(5)),
            _ => self.key_state(),
        };
        let mut st = self.state.lock().expect("audit lock");
        let Some(conn) = st.conn.as_mut() else {
            return Err("the audit trail is not open".into());
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        let Some((seq, hash)) = last_record(&tx)? else {
            return Ok(None);
        };
        let done: Option<i64> = tx
            .query_row("SELECT MAX(seq) FROM checkpoints", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if done.is_some_and(|d| d >= seq as i64) {
            return Ok(None);
        }
        let wrote = write_checkpoint(&tx, seq, &hash, reason, &key)?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(wrote.then_some(seq))
    }

    /// A writer that cannot write (the trail could not be opened): every
    /// call is denied with `why` (fail closed).
    pub fn broken(path: &Path, why: String) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                conn: None,
                queue: Vec::new(),
                leader: false,
            }),
            failing: AtomicBool::new(true),
            last_error: Mutex::new(Some(why)),
            path: path.to_path_buf(),
            spool_full: Mutex::new(None),
            spool_full_flag: AtomicBool::new(false),
            checkpoint_every: 0,
            signer: OnceLock::new(),
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

    /// Marks the spool full (calls are denied with `why`) or not.
    pub fn set_spool_full(&self, why: Option<String>) {
        let was = self.spool_full_flag.swap(why.is_some(), Ordering::Relaxed);
        match (&why, was) {
            (Some(w), false) => {
                tracing::error!("{w}; calls are denied until the collector takes records")
            }
            (None, true) => tracing::info!("the audit spool has room again"),
            _ => {}
        }
        *self.spool_full.lock().expect("audit spool lock") = why;
    }

    /// Why calls are denied because the spool is full, if they are.
    pub fn spool_full(&self) -> Option<String> {
        if self.spool_full_flag.load(Ordering::Relaxed) {
            self.spool_full.lock().expect("audit spool lock").clone()
        } else {
            None
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

    /// Appends a record and waits until it is committed; its `seq`. With
    /// `others` (other calls are in flight), the commit waits one turn of
    /// the runtime so that their records share it.
    pub async fn commit(&self, record: Record, others: bool) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut st = self.state.lock().expect("audit lock");
            st.queue.push(Job {
                record: Box::new(record),
                done: Some(tx),
            });
            !std::mem::replace(&mut st.leader, true)
        };
        if lead {
            let lead = Lead(self);
            if others {
                tokio::task::yield_now().await;
            }
            drop(lead);
        }
        rx.await
            .map_err(|_| "the audit writer stopped".to_string())?
    }

    /// Appends a record without waiting for others (governance events).
    pub fn submit(&self, record: Record) {
        let lead = {
            let mut st = self.state.lock().expect("audit lock");
            st.queue.push(Job {
                record: Box::new(record),
                done: None,
            });
            !std::mem::replace(&mut st.leader, true)
        };
        if lead {
            self.flush();
        }
    }

    /// Commits what is queued, and answers each waiter.
    fn flush(&self) {
        let (mut batch, result) = {
            let mut st = self.state.lock().expect("audit lock");
            st.leader = false;
            let mut batch = std::mem::take(&mut st.queue);
            if batch.is_empty() {
                return;
            }
            let every = self.checkpoint_every;
            let result = match st.conn.as_mut() {
                Some(conn) => append(conn, &mut batch, every, || self.key_state()),
                None => Err(self
                    .last_error
                    .lock()
                    .expect("audit error lock")
                    .clone()
                    .unwrap_or_else(|| "the audit trail is not open".into())),
            };
            (batch, result)
        };
        self.note(&result);
        for (i, job) in batch.iter_mut().enumerate() {
            if let Some(done) = job.done.take() {
                let _ = done.send(match &result {
                    Ok(first_seq) => Ok(first_seq + i as u64),
                    Err(e) => Err(e.clone()),
                });
            }
        }
    }
}

/// Appends a batch in one transaction, chaining each record to the last
/// one on disk (whichever process wrote it). Returns the first `seq`.
///
/// When the batch passes a multiple of `every`, a checkpoint over its last
/// record is written in the same transaction.
fn append(
    conn: &mut Connection,
    batch: &mut [Job],
    every: u64,
    key: impl FnOnce() -> KeyState,
) -> Result<u64, String> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let (last_seq, mut prev) = last_record(&tx)?.unwrap_or((0, GENESIS.to_string()));
    let mut seq = last_seq;
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
    if every > 0 && seq / every > (first - 1) / every {
        write_checkpoint(&tx, seq, &prev, "count", &key())?;
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(first)
}

/// The last record's `seq` and `hash`: the newest kept, or when every
/// record was uploaded and deleted, the anchor (the chain goes on from it).
fn last_record(tx: &rusqlite::Transaction<'_>) -> Result<Option<(u64, String)>, String> {
    let kept = tx
        .prepare_cached("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| {
            s.query_row([], |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?)))
                .optional()
        })
        .map_err(|e| e.to_string())?;
    match kept {
        Some(k) => Ok(Some(k)),
        None => super::upload::anchor(tx).map_err(|e| e.to_string()),
    }
}

/// Inserts a checkpoint over record `seq` (another process may have
/// written one there already: then nothing). False while the key loads.
fn write_checkpoint(
    tx: &rusqlite::Transaction<'_>,
    seq: u64,
    hash: &str,
    reason: &str,
    key: &KeyState,
) -> Result<bool, String> {
    let cp = Checkpoint {
        v: 1,
        seq,
        hash: hash.to_owned(),
        time: super::rfc3339_micros(
            crate::policy::limits::now_ms() * 1000 + super::sub_ms_micros(),
        ),
        key: None,
        unsigned: None,
        reason: reason.to_owned(),
    };
    let Some((body, sig)) = cp.seal(key) else {
        return Ok(false);
    };
    tx.prepare_cached("INSERT OR IGNORE INTO checkpoints (seq, body, sig) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(rusqlite::params![seq as i64, body, sig]))
        .map_err(|e| e.to_string())?;
    Ok(true)
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
        let a = Writer::start(&db, false, 0).unwrap();
        let b = Writer::start(&db, false, 0).unwrap();
        let mut seqs = Vec::new();
        for i in 0..50 {
            let w = if i % 2 == 0 { &a } else { &b };
            seqs.push(w.commit(Record::new("call"), false).await.unwrap());
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
            true,
        );
        assert_eq!(n, 50);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
