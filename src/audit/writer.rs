//! Appends records to the trail.
//!
//! A call's record must be safe before its answer goes to the IDE, and
//! that must cost little. [`Writer::commit`] therefore appends the record
//! to this process's **journal** (`STATE/audit-journal/<pid>-<rand>.jnl`,
//! one JSON line, one `write`; with `durability = "fsync"` also an
//! `fdatasync`) and returns: from then on a killed process loses nothing,
//! since the kernel has the bytes. A thread of the writer's own then
//! chains the records (`seq`, `prev`, `hash`) into `audit.db` in batches,
//! in one SQLite transaction each, and empties the journal once everything
//! in it is in the database.
//!
//! A journal whose owner died (its `flock` is free) is taken over by the
//! next toolgate that opens the trail (`serve`, or any `toolgate audit`
//! command): its records are chained in (those already there, found by
//! `id`, are skipped) and the file is removed. Records wait unchained in a
//! journal for a few milliseconds at most while their process lives.
//!
//! Governance events use [`Writer::submit`], the same way.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};

use super::sign::{Checkpoint, KeyState, Signer};
use super::{GENESIS, Record};

/// Most records chained in one transaction.
const BATCH: usize = 4096;
/// How long the ingest thread lets records gather before a transaction.
const GATHER: Duration = Duration::from_millis(5);

/// This process's journal and what waits in it.
struct Journal {
    file: Option<std::fs::File>,
    path: PathBuf,
    /// Records appended and not yet in the database.
    queue: Vec<Record>,
    /// Records appended, and how many of them are in the database (since
    /// the process started).
    appended: u64,
    ingested: u64,
}

/// The audit writer of this process.
pub struct Writer {
    journal: Mutex<Journal>,
    /// Wakes the ingest thread; also signalled when a batch is in.
    wake: Condvar,
    /// The database, used by the ingest thread and checkpoints.
    conn: Mutex<Option<Connection>>,
    /// The last journal write failed (and why): calls are denied until one
    /// works.
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// The spool is over its bounds and the org says to deny (why).
    spool_full: Mutex<Option<String>>,
    spool_full_flag: AtomicBool,
    fsync: bool,
    path: PathBuf,
    /// A checkpoint every this many records (0: none by count).
    checkpoint_every: u64,
    /// Signs checkpoints (until set: they wait).
    signer: OnceLock<Arc<Signer>>,
    /// Someone waits in [`Writer::flush`]: no gathering.
    flushing: AtomicBool,
    /// Personal use (`[audit] on_failure = "continue"`): a record that
    /// cannot be written is counted, not a reason to deny the call.
    fail_open: AtomicBool,
    /// Records lost while failing open, and the last reason; an
    /// `audit.dropped` event records them once the trail works again.
    lost: AtomicU64,
    lost_why: Mutex<Option<String>>,
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
    // Finding a journal's records that are already in (by id).
    conn.execute_batch("CREATE INDEX IF NOT EXISTS records_id ON records(id);")
        .context("could not set up the audit trail")?;
    Ok(conn)
}

/// The folder of the journals, beside `audit.db`.
fn journal_dir(db: &Path) -> PathBuf {
    db.with_file_name("audit-journal")
}

impl Writer {
    /// Opens the trail, opens this process's journal, and starts the ingest
    /// thread, which first takes over the journals of dead processes; a
    /// signed checkpoint every `checkpoint_every` records (0: only on
    /// [`Writer::checkpoint`]).
    ///
    /// Taking over needs to write the database, which another process may
    /// hold locked for long: that is done (and retried) in the background,
    /// never holding up the start, and the records stay safe in their
    /// journals meanwhile.
    pub fn start(path: &Path, fsync: bool, checkpoint_every: u64) -> Result<Arc<Self>> {
        let conn = open_db(path, fsync)?;
        let dir = journal_dir(path);
        crate::config::paths::ensure_private_dir(&dir)?;
        let mut rand = [0u8; 4];
        getrandom::fill(&mut rand).expect("the OS random source works");
        let jpath = dir.join(format!(
            "{}-{}.jnl",
            std::process::id(),
            crate::util::hex(&rand)
        ));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jpath)
            .with_context(|| format!("could not open the audit journal {}", jpath.display()))?;
        let locked = crate::util::flock(&file, true)
            .with_context(|| format!("could not lock the audit journal {}", jpath.display()))?;
        anyhow::ensure!(
            locked,
            "the audit journal {} is locked by another process",
            jpath.display()
        );
        let w = Arc::new(Self {
            journal: Mutex::new(Journal {
                file: Some(file),
                path: jpath,
                queue: Vec::new(),
                appended: 0,
                ingested: 0,
            }),
            wake: Condvar::new(),
            conn: Mutex::new(Some(conn)),
            failing: AtomicBool::new(false),
            last_error: Mutex::new(None),
            spool_full: Mutex::new(None),
            spool_full_flag: AtomicBool::new(false),
            fsync,
            path: path.to_path_buf(),
            checkpoint_every,
            signer: OnceLock::new(),
            flushing: AtomicBool::new(false),
            fail_open: AtomicBool::new(false),
            lost: AtomicU64::new(0),
            lost_why: Mutex::new(None),
        });
        let weak = Arc::downgrade(&w);
        std::thread::Builder::new()
            .name("audit-ingest".into())
            .spawn(move || ingest_loop(&weak))
            .context("could not start the audit writer")?;
        Ok(w)
    }

    /// A writer that cannot write (the trail could not be opened): every
    /// call is denied with `why` (fail closed).
    pub fn broken(path: &Path, why: String) -> Arc<Self> {
        Arc::new(Self {
            journal: Mutex::new(Journal {
                file: None,
                path: PathBuf::new(),
                queue: Vec::new(),
                appended: 0,
                ingested: 0,
            }),
            wake: Condvar::new(),
            conn: Mutex::new(None),
            failing: AtomicBool::new(true),
            last_error: Mutex::new(Some(why)),
            spool_full: Mutex::new(None),
            spool_full_flag: AtomicBool::new(false),
            fsync: false,
            path: path.to_path_buf(),
            checkpoint_every: 0,
            signer: OnceLock::new(),
            flushing: AtomicBool::new(false),
            fail_open: AtomicBool::new(false),
            lost: AtomicU64::new(0),
            lost_why: Mutex::new(None),
        })
    }

    /// Fails open (personal use): calls go on when their record cannot be
    /// written; the gap is recorded as `audit.dropped` once it can.
    pub fn set_fail_open(&self, on: bool) {
        self.fail_open.store(on, Ordering::Relaxed);
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
        let mut guard = self.conn.lock().expect("audit db lock");
        let Some(conn) = guard.as_mut() else {
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

    fn note(&self, result: &Result<(), String>) {
        match result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the audit trail can be written again");
                }
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    if self.fail_open.load(Ordering::Relaxed) {
                        tracing::warn!(
                            "the audit trail cannot be written ({e}); calls go on unrecorded (on_failure = \"continue\"), and the gap is recorded once it can"
                        );
                    } else {
                        tracing::error!(
                            "the audit trail cannot be written ({e}); calls are denied until it can"
                        );
                    }
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

    /// Why calls must be denied now (the last write failed), if they must
    /// (never when failing open).
    pub fn failing(&self) -> Option<String> {
        if self.failing.load(Ordering::Relaxed) && !self.fail_open.load(Ordering::Relaxed) {
            self.last_error.lock().expect("audit error lock").clone()
        } else {
            None
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record to the journal: once this returns `Ok`, the record
    /// survives the process being killed (and, with `fsync`, power loss).
    /// It reaches the database (chained) moments later.
    pub async fn commit(&self, record: Record, _others: bool) -> Result<(), String> {
        self.keep(record)
    }

    /// [`Writer::commit`] without waiting (it never waits anyway): for the
    /// upstream's reader, which commits a record just before it writes the
    /// call's answer.
    pub fn commit_now(&self, record: Record) -> Result<(), String> {
        self.keep(record)
    }

    /// Appends a governance event (its failure is logged, not returned).
    pub fn submit(&self, record: Record) {
        let _ = self.keep(record);
    }

    /// Appends a record; when failing open, a failure is counted instead
    /// of returned, and the count is recorded (`audit.dropped`) before the
    /// next record that can be written.
    fn keep(&self, record: Record) -> Result<(), String> {
        if self.lost.load(Ordering::Relaxed) > 0 {
            self.record_lost();
        }
        let result = self.append(record);
        self.note(&result);
        match result {
            Err(why) if self.fail_open.load(Ordering::Relaxed) => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                *self.lost_why.lock().expect("audit lost lock") = Some(why);
                Ok(())
            }
            other => other,
        }
    }

    /// Records how many records were lost while failing open.
    fn record_lost(&self) {
        let count = self.lost.swap(0, Ordering::Relaxed);
        if count == 0 {
            return;
        }
        let why = self.lost_why.lock().expect("audit lost lock").clone();
        let record = super::governance_record(
            "audit.dropped",
            None,
            serde_json::json!({"count": count, "why": why, "reason": "unwritable"}),
        );
        if self.append(record).is_err() {
            self.lost.fetch_add(count, Ordering::Relaxed);
        } else {
            tracing::warn!(
                "{count} audit record(s) were lost while the trail could not be written; an audit.dropped event records the gap"
            );
        }
    }

    fn append(&self, record: Record) -> Result<(), String> {
        let mut line = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let mut j = self.journal.lock().expect("audit journal lock");
        let Some(file) = j.file.as_mut() else {
            return Err(self
                .last_error
                .lock()
                .expect("audit error lock")
                .clone()
                .unwrap_or_else(|| "the audit trail is not open".into()));
        };
        let written = file
            .write_all(&line)
            .and_then(|()| if self.fsync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // A partial line is ignored when the journal is read back; the
            // next line starts on a line of its own.
            let _ = file.write_all(b"\n");
            return Err(if e.kind() == std::io::ErrorKind::StorageFull {
                "the disk is full".to_string()
            } else {
                format!("could not write the audit journal: {e}")
            });
        }
        j.appended += 1;
        let first = j.queue.is_empty();
        j.queue.push(record);
        drop(j);
        // The ingest thread is already on its way when the queue was not
        // empty: no wake-up per record.
        if first {
            self.wake.notify_all();
        }
        Ok(())
    }

    /// Moves what is left into the database and removes the journal (at
    /// exit). What cannot be moved within `limit` stays in the journal for
    /// the next toolgate to recover (then false).
    pub fn close(&self, limit: Duration) -> bool {
        if !self.flush(limit) {
            tracing::warn!(
                "audit records are left in the journal; the next toolgate recovers them"
            );
            return false;
        }
        let mut j = self.journal.lock().expect("audit journal lock");
        if j.file.take().is_some() && !j.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&j.path);
        }
        true
    }

    /// Waits until every record appended so far is in the database (or
    /// `limit` passes): at shutdown, and before reading the trail back.
    pub fn flush(&self, limit: Duration) -> bool {
        self.flushing.store(true, Ordering::Relaxed);
        let j = self.journal.lock().expect("audit journal lock");
        let target = j.appended;
        self.wake.notify_all();
        let (j, _) = self
            .wake
            .wait_timeout_while(j, limit, |j| j.ingested < target && j.file.is_some())
            .expect("audit journal lock");
        let done = j.ingested >= target;
        drop(j);
        self.flushing.store(false, Ordering::Relaxed);
        done
    }
}

/// Chains what waits in the journal into the database, batch by batch,
/// until the writer is gone. Takes over the journals of dead processes
/// first, retrying (between batches of its own) until that works.
fn ingest_loop(weak: &std::sync::Weak<Writer>) {
    crate::util::background_priority();
    let mut backoff = Duration::from_millis(10);
    // When to try taking over the journals of dead processes (None: done).
    let mut recovery = Some((std::time::Instant::now(), Duration::from_millis(100)));
    loop {
        let Some(w) = weak.upgrade() else { return };
        if let Some((when, wait)) = recovery
            && std::time::Instant::now() >= when
        {
            let result = {
                let mut guard = w.conn.lock().expect("audit db lock");
                match guard.as_mut() {
                    Some(conn) => recover(conn, &w.path).map_err(|e| format!("{e:#}")),
                    None => Ok(()),
                }
            };
            recovery = match result {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(
                        "could not take over the audit journals of stopped processes yet ({e}); their records are kept, retrying"
                    );
                    let next = (wait * 2).min(Duration::from_secs(10));
                    Some((std::time::Instant::now() + wait, next))
                }
            };
        }
        let waited = {
            let j = w.journal.lock().expect("audit journal lock");
            let (j, _) = w
                .wake
                .wait_timeout_while(j, Duration::from_secs(1), |j| j.queue.is_empty())
                .expect("audit journal lock");
            !j.queue.is_empty()
        };
        if waited && !w.flushing.load(Ordering::Relaxed) {
            // Let a batch gather: one transaction for many calls' records
            // (they are safe in the journal meanwhile).
            std::thread::sleep(GATHER);
        }
        let mut batch: Vec<Record> = {
            let mut j = w.journal.lock().expect("audit journal lock");
            let n = j.queue.len().min(BATCH);
            j.queue.drain(..n).collect()
        };
        if batch.is_empty() {
            continue;
        }
        let n = batch.len() as u64;
        let result = {
            let mut guard = w.conn.lock().expect("audit db lock");
            match guard.as_mut() {
                Some(conn) => append(conn, &mut batch, w.checkpoint_every, || w.key_state()),
                None => Err("the audit trail is not open".into()),
            }
        };
        match result {
            Ok(()) => {
                backoff = Duration::from_millis(10);
                let mut j = w.journal.lock().expect("audit journal lock");
                j.ingested += n;
                // Everything in the journal is in the database: empty it.
                if j.ingested == j.appended
                    && let Some(f) = j.file.as_mut()
                    && let Err(e) = f.set_len(0)
                {
                    tracing::warn!("could not empty the audit journal: {e}");
                }
                drop(j);
                w.wake.notify_all();
            }
            Err(e) => {
                // The records are safe in the journal: put them back and
                // try again soon.
                tracing::warn!("could not move audit records into the database ({e}); retrying");
                {
                    let mut j = w.journal.lock().expect("audit journal lock");
                    let mut back = batch;
                    back.append(&mut j.queue);
                    j.queue = back;
                }
                drop(w);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Chains `batch` into the database in one transaction (after whatever
/// any process wrote last), with a checkpoint at every multiple of `every`
/// in the same transaction.
fn append(
    conn: &mut Connection,
    batch: &mut [Record],
    every: u64,
    key: impl FnOnce() -> KeyState,
) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let (last_seq, mut prev) = last_record(&tx)?.unwrap_or((0, GENESIS.to_string()));
    let mut seq = last_seq;
    let mut key = Some(key);
    let mut key_state = None;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO records (seq, id, time, body, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(|e| e.to_string())?;
        // A batch that failed is retried as it is: seq and prev are set anew.
        for r in batch.iter_mut() {
            seq += 1;
            r.seq = seq;
            r.prev = std::mem::take(&mut prev);
            let (body, hash) = r.seal()?;
            insert
                .execute(rusqlite::params![seq as i64, r.id, r.time, body, hash])
                .map_err(|e| e.to_string())?;
            if every > 0 && seq % every == 0 {
                let state =
                    key_state.get_or_insert_with(|| key.take().map_or(KeyState::Loading, |k| k()));
                write_checkpoint(&tx, seq, &hash, "count", state)?;
            }
            prev = hash;
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(())
}

/// Takes over the journals of processes that died: their records are
/// chained in (skipping those already there) and the files removed.
pub fn recover(conn: &mut Connection, db: &Path) -> Result<()> {
    let dir = journal_dir(db);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "jnl") {
            continue;
        }
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        if !crate::util::flock(&file, true).unwrap_or(false) {
            continue; // its process lives
        }
        let text = std::fs::read(&path)
            .with_context(|| format!("could not read the audit journal {}", path.display()))?;
        let mut records = Vec::new();
        for line in text.split(|&b| b == b'\n') {
            // A torn last line was never acknowledged: its call got no answer.
            if let Ok(r) = serde_json::from_slice::<Record>(line) {
                records.push(r);
            }
        }
        let mut fresh = Vec::with_capacity(records.len());
        {
            let mut known = conn
                .prepare_cached("SELECT 1 FROM records WHERE id = ?1")
                .context("could not read the audit trail")?;
            for r in records {
                if !known
                    .exists([&r.id])
                    .context("could not read the audit trail")?
                {
                    fresh.push(r);
                }
            }
        }
        let n = fresh.len();
        for chunk in fresh.chunks_mut(BATCH) {
            append(conn, chunk, 0, || KeyState::Loading).map_err(|e| {
                anyhow::anyhow!(
                    "could not recover the audit journal {}: {e}",
                    path.display()
                )
            })?;
        }
        if n > 0 {
            tracing::info!(
                "recovered {n} audit record(s) from {} (its process had stopped)",
                path.display()
            );
        }
        std::fs::remove_file(&path)
            .with_context(|| format!("could not remove the audit journal {}", path.display()))?;
        drop(file);
    }
    Ok(())
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
        for i in 0..50 {
            let w = if i % 2 == 0 { &a } else { &b };
            w.commit(Record::new("call"), false).await.unwrap();
        }
        assert!(a.flush(Duration::from_secs(10)) && b.flush(Duration::from_secs(10)));
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

    #[tokio::test]
    async fn a_dead_processs_journal_is_recovered_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("audit.db");
        let jdir = journal_dir(&db);
        std::fs::create_dir_all(&jdir).unwrap();
        // A journal left by a process that died: two records, the first
        // already chained in, and a torn last line.
        let one = Record::new("call");
        let two = Record::new("call");
        let w = Writer::start(&db, false, 0).unwrap();
        w.commit(one.clone(), false).await.unwrap();
        assert!(w.flush(Duration::from_secs(10)));
        let mut text = serde_json::to_vec(&one).unwrap();
        text.push(b'\n');
        text.extend(serde_json::to_vec(&two).unwrap());
        text.extend(b"\n{\"v\":1,\"id\":\"tor");
        std::fs::write(jdir.join("99999999-dead.jnl"), text).unwrap();
        let mut conn = open_db(&db, false).unwrap();
        recover(&mut conn, &db).unwrap();
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM records ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(ids, [one.id.clone(), two.id.clone()]);
        assert!(!jdir.join("99999999-dead.jnl").exists());
        // The live writer's own journal is left alone.
        assert_eq!(std::fs::read_dir(&jdir).unwrap().count(), 1);
    }
}
