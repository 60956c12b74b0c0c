//! Byte streams that carry JSON-RPC lines: the IDE's stdio and each stdio
//! upstream's pipes.
//!
//! [`Outbound`] serialises writers and coalesces them: a line is appended to a
//! buffer and written at once; lines added while a write is under way (a
//! full pipe) go out together in the next one. Lines never interleave and
//! keep their order. (Holding lines back to batch more was measured: it
//! lowered throughput at 64 calls in flight, since the upstream then waits.)
//!
//! toolgate's own stdin and stdout are used through the reactor when they are
//! pipes or sockets (what IDEs give), instead of tokio's blocking-thread stdio,
//! which would add a thread hop to every message.

use std::io;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

pub type BoxRead = Pin<Box<dyn AsyncRead + Send>>;
pub type BoxWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// A shared, coalescing writer of whole lines.
pub struct Outbound {
    pending: std::sync::Mutex<Pending>,
    writer: Mutex<Option<BoxWrite>>,
    /// Lines [`Outbound::offer`] dropped since it last could send one.
    dropped: std::sync::atomic::AtomicU64,
}

/// Largest write buffer kept for reuse between batches.
const SPARE_MAX: usize = 256 << 10;

/// Bytes waiting for a slow reader beyond which [`Outbound::offer`] drops
/// its lines.
pub const OFFER_BACKLOG: usize = 4 << 20;

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// The last batch's buffer, emptied, for the next one (so that a busy
    /// stream does not grow a fresh buffer for every write).
    spare: Vec<u8>,
    /// A sender is writing the buffer out: others only append.
    flushing: bool,
    /// The stream failed: every later send fails the same way.
    failed: Option<io::ErrorKind>,
}

/// Clears the flusher's flag however its future ends (even dropped), so a
/// later sender takes over and nothing stays unwritten.
struct FlushGuard<'a>(&'a std::sync::Mutex<Pending>);

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().expect("outbound lock").flushing = false;
    }
}

impl Outbound {
    pub fn new(writer: BoxWrite) -> Self {
        Self {
            pending: std::sync::Mutex::new(Pending::default()),
            writer: Mutex::new(Some(writer)),
            dropped: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Sends a line that may be lost (a progress or log notification)
    /// without ever waiting for the write: when more than
    /// [`OFFER_BACKLOG`] bytes already wait for the reader, the line is
    /// dropped instead (false). An upstream that floods notifications
    /// faster than the IDE reads them is thus never queued up in memory.
    pub fn offer(self: &Arc<Self>, line: &[u8]) -> bool {
        use std::sync::atomic::Ordering;
        let flush = {
            let mut p = self.pending.lock().expect("outbound lock");
            if p.failed.is_some() {
                return false;
            }
            if p.buf.len() + line.len() > OFFER_BACKLOG {
                drop(p);
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        "the client is not reading fast enough: progress and log notifications are dropped until it catches up"
                    );
                }
                return false;
            }
            p.buf.extend_from_slice(line);
            // As in `send`: a flusher at work, or a scope, writes it.
            let flush = !(p.flushing || batch::defer(self));
            if flush {
                p.flushing = true;
            }
            flush
        };
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                "the client caught up; {dropped} progress or log notification(s) were dropped meanwhile"
            );
        }
        if !flush {
            return true;
        }
        // The write may wait for the reader: not the caller's business.
        let this = self.clone();
        tokio::spawn(async move {
            let _guard = FlushGuard(&this.pending);
            if let Err(e) = this.drain().await {
                tracing::debug!("a write failed: {e}");
            }
        });
        true
    }

    /// Sends one complete line (which must end in `\n`). When another sender
    /// is already writing, the line goes out with its batch and this returns
    /// at once; a write error is then reported to the sender that wrote.
    ///
    /// Inside a [`batch::Scope`] the line is only buffered; the scope writes
    /// it out with the others when it ends.
    pub async fn send(self: &Arc<Self>, line: &[u8]) -> io::Result<()> {
        self.send_with(|buf| buf.extend_from_slice(line)).await
    }

    /// [`Outbound::send`], the line written by `line` straight into the
    /// buffer (no copy of it made first).
    pub async fn send_with(self: &Arc<Self>, line: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        {
            let mut p = self.pending.lock().expect("outbound lock");
            if let Some(kind) = p.failed {
                return Err(io::Error::new(kind, "stream closed"));
            }
            line(&mut p.buf);
            if p.flushing {
                return Ok(());
            }
            if batch::defer(self) {
                return Ok(());
            }
            p.flushing = true;
        }
        let _guard = FlushGuard(&self.pending);
        self.drain().await
    }

    /// Writes out what is buffered, unless another sender is already at it
    /// (then it goes out with that sender's batch).
    async fn flush_pending(&self) -> io::Result<()> {
        {
            let mut p = self.pending.lock().expect("outbound lock");
            if p.flushing || p.buf.is_empty() {
                return Ok(());
            }
            p.flushing = true;
        }
        let _guard = FlushGuard(&self.pending);
        self.drain().await
    }

    /// Writes out the buffer until it stays empty.
    async fn drain(&self) -> io::Result<()> {
        let mut writer = self.writer.lock().await;
        let mut batch = std::mem::take(&mut self.pending.lock().expect("outbound lock").spare);
        loop {
            {
                let mut p = self.pending.lock().expect("outbound lock");
                if p.buf.is_empty() {
                    // Kept for the next batch, unless a large message made it big.
                    if batch.capacity() <= SPARE_MAX {
                        p.spare = batch;
                    }
                    return Ok(());
                }
                std::mem::swap(&mut p.buf, &mut batch);
            }
            let written = match writer.as_mut() {
                Some(w) => {
                    // A write that waits for its reader is not worth spinning
                    // for: the spin watches incoming messages only.
                    let _writing = spin::writing();
                    match w.write_all(&batch).await {
                        Ok(()) => w.flush().await,
                        Err(e) => Err(e),
                    }
                }
                None => Err(io::Error::new(io::ErrorKind::BrokenPipe, "stream closed")),
            };
            if let Err(e) = written {
                let mut p = self.pending.lock().expect("outbound lock");
                p.failed = Some(e.kind());
                p.buf.clear();
                return Err(e);
            }
            batch.clear();
        }
    }

    /// Writes out what is buffered, then closes the stream (an upstream's
    /// stdin: its cue to exit).
    pub async fn close(&self) {
        let _ = self.drain().await;
        if let Some(mut w) = self.writer.lock().await.take() {
            let _ = w.shutdown().await;
        }
        self.pending.lock().expect("outbound lock").failed = Some(io::ErrorKind::BrokenPipe);
    }
}

/// Write-combining for messages already in hand.
///
/// A reader that has several complete lines buffered (the IDE's requests, an
/// upstream's answers, under load) handles them inside a [`Scope`]: what
/// they send is appended to each destination's buffer, and every destination
/// is written once when the scope ends, as soon as the lines in hand are
/// handled (never later than [`MAX_LINES`] lines). Nothing waits for input
/// that has not arrived, so a lone message goes out at once, as before. This
/// saves a write (and the reader's wake-up on the other end) per message,
/// which on a small machine is CPU taken from the upstream and the client.
///
/// Scopes are per thread (`serve` runs on one), and nest: the writes happen
/// when the outermost ends. A scope dropped without [`Scope::end`] (its task
/// cancelled) still has its lines written, from a spawned task.
pub mod batch {
    use std::cell::{Cell, RefCell};
    use std::sync::Arc;

    use super::Outbound;

    /// Most lines a reader handles in one scope before it writes.
    pub const MAX_LINES: usize = 32;

    thread_local! {
        static DEPTH: Cell<usize> = const { Cell::new(0) };
        static DIRTY: RefCell<Vec<Arc<Outbound>>> = const { RefCell::new(Vec::new()) };
    }

    /// Called by [`Outbound::send`] with its buffer lock held: inside a scope,
    /// remembers the destination (once) and says to leave the line buffered.
    pub(super) fn defer(out: &Arc<Outbound>) -> bool {
        if DEPTH.with(Cell::get) == 0 {
            return false;
        }
        DIRTY.with(|d| {
            let mut d = d.borrow_mut();
            if !d.iter().any(|o| Arc::ptr_eq(o, out)) {
                d.push(out.clone());
            }
        });
        true
    }

    /// Lines sent until [`Scope::end`] are written together then.
    #[must_use = "a scope writes its lines when it ends"]
    pub struct Scope {
        open: bool,
    }

    /// Opens a scope on this thread.
    pub fn begin() -> Scope {
        DEPTH.with(|d| d.set(d.get() + 1));
        Scope { open: true }
    }

    impl Scope {
        /// Closes the scope; the outermost writes every buffered line.
        pub async fn end(mut self) {
            self.open = false;
            for out in close() {
                if let Err(e) = out.flush_pending().await {
                    tracing::debug!("a batched write failed: {e}");
                }
            }
        }
    }

    /// A reader loop's scope: call [`Batch::next`] before each read with
    /// whether a whole line is already buffered. Lines in hand are handled
    /// inside one scope (at most [`MAX_LINES`]); before a read that may wait,
    /// the scope ends and what it holds is written.
    #[derive(Default)]
    pub struct Batch {
        scope: Option<Scope>,
        lines: usize,
    }

    impl Batch {
        pub async fn next(&mut self, line_in_hand: bool) {
            if (!line_in_hand || self.lines >= MAX_LINES)
                && let Some(scope) = self.scope.take()
            {
                scope.end().await;
            }
            if line_in_hand && self.scope.is_none() {
                self.scope = Some(begin());
                self.lines = 0;
            }
            self.lines += 1;
        }
    }

    fn close() -> Vec<Arc<Outbound>> {
        let depth = DEPTH.with(|d| {
            let n = d.get().saturating_sub(1);
            d.set(n);
            n
        });
        if depth == 0 {
            DIRTY.with(|d| std::mem::take(&mut *d.borrow_mut()))
        } else {
            Vec::new()
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            if !self.open {
                return;
            }
            let dirty = close();
            if dirty.is_empty() {
                return;
            }
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(async move {
                        for out in dirty {
                            let _ = out.flush_pending().await;
                        }
                    });
                }
                Err(_) => tracing::warn!("lines were left unwritten outside a runtime"),
            }
        }
    }
}

/// toolgate's stdin and stdout, through the reactor where possible.
pub fn stdio() -> io::Result<(BoxRead, BoxWrite)> {
    #[cfg(unix)]
    {
        Ok((unix::stdin()?, unix::stdout()?))
    }
    #[cfg(not(unix))]
    {
        Ok((Box::pin(tokio::io::stdin()), Box::pin(tokio::io::stdout())))
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;

    use tokio::net::unix::pipe;

    use super::{BoxRead, BoxWrite};

    enum Kind {
        Fifo,
        Socket,
        Other,
    }

    fn kind(fd: BorrowedFd<'_>) -> Kind {
        let Ok(dup) = fd.try_clone_to_owned() else {
            return Kind::Other;
        };
        match File::from(dup).metadata().map(|m| m.file_type()) {
            Ok(t) if t.is_fifo() => Kind::Fifo,
            Ok(t) if t.is_socket() => Kind::Socket,
            _ => Kind::Other,
        }
    }

    /// Takes ownership of a standard descriptor by duplicating it, so the
    /// original number stays open (nothing else can land on it and receive
    /// stray writes).
    fn dup(fd: i32) -> io::Result<OwnedFd> {
        // SAFETY: 0 and 1 are open for the life of the process; we only borrow
        // them to duplicate.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        borrowed.try_clone_to_owned()
    }

    pub fn stdin() -> io::Result<BoxRead> {
        let fd = dup(0)?;
        match kind(fd.as_fd()) {
            Kind::Fifo => {
                super::spin::watch(std::os::fd::AsRawFd::as_raw_fd(&fd));
                Ok(Box::pin(pipe::Receiver::from_owned_fd(fd)?))
            }
            Kind::Socket => {
                super::spin::watch(std::os::fd::AsRawFd::as_raw_fd(&fd));
                let std = std::os::unix::net::UnixStream::from(fd);
                std.set_nonblocking(true)?;
                Ok(Box::pin(tokio::net::UnixStream::from_std(std)?))
            }
            Kind::Other => Ok(Box::pin(tokio::io::stdin())),
        }
    }

    pub fn stdout() -> io::Result<BoxWrite> {
        let fd = dup(1)?;
        match kind(fd.as_fd()) {
            Kind::Fifo => Ok(Box::pin(pipe::Sender::from_owned_fd(fd)?)),
            Kind::Socket => {
                let std = std::os::unix::net::UnixStream::from(fd);
                std.set_nonblocking(true)?;
                Ok(Box::pin(tokio::net::UnixStream::from_std(std)?))
            }
            Kind::Other => {
                // SAFETY: fd is a freshly duplicated descriptor we own.
                let file = unsafe { File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(fd)) };
                Ok(Box::pin(tokio::fs::File::from_std(file)))
            }
        }
    }
}

/// Adaptive busy-polling, to spare the scheduler's wake-up on the hot path.
///
/// A proxy adds a process to every call's path, and on small machines (and
/// VMs) most of that cost is not toolgate's code but the kernel putting it to
/// sleep and waking it again for each message. While calls are in flight,
/// and for a moment after an answer goes to the IDE (a sequential client
/// sends its next call at once), the runtime polls the watched descriptors
/// (the IDE's, and those of the upstreams with a call in flight) without
/// sleeping, for a bounded time, before it parks. While it spins it calls
/// `sched_yield`, so any other runnable process on that core goes first.
/// The CPU this costs is bounded by [`SPIN_IN_FLIGHT`] per wake-up while
/// calls are in flight, plus [`SPIN_AFTER_ANSWER`] per answer (a few
/// hundred microseconds a call, nothing for an IDE's few calls a minute);
/// a client that calls back to back keeps one core busy yielding. With
/// `TOOLGATE_BUSY_POLL=0` it is off.
///
/// It spins however many calls are in flight. Spinning only with one or two
/// in flight (on the theory that under load there is always work, so that a
/// spin would only take CPU from the upstream) measured worse: at 64 calls
/// in flight a 2-vCPU VM stayed a fifth idle while toolgate, the client and
/// the upstream each waited tens of microseconds to be woken, and
/// throughput through toolgate was 0.60× to 0.67× of direct, against 0.75×
/// to 0.86× when it spins (`cargo bench --bench proxy -- --only calls
/// --throughput-calls 300000`, interleaved runs). A spin costs the others
/// little: it yields to whatever else is runnable on its core.
pub mod spin {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Longest spin while a call waits for its upstream.
    pub const SPIN_IN_FLIGHT: Duration = Duration::from_micros(250);
    /// Longest spin after an answer, waiting for the IDE's next message.
    pub const SPIN_AFTER_ANSWER: Duration = Duration::from_micros(150);

    static ENABLED: AtomicBool = AtomicBool::new(false);
    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
    static LAST_ANSWER_NANOS: AtomicU64 = AtomicU64::new(0);
    /// The watched descriptors: the IDE's (always polled) and each stdio
    /// upstream's, polled only while one of its calls is in flight, so
    /// that a spin costs the same with 50 upstreams as with one.
    static FDS: Mutex<Vec<(i32, Option<Arc<AtomicUsize>>)>> = Mutex::new(Vec::new());

    fn epoch() -> Instant {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    /// Turns busy-polling on for this process (`serve` does, unless
    /// `TOOLGATE_BUSY_POLL=0`).
    pub fn enable() {
        let off = std::env::var("TOOLGATE_BUSY_POLL").is_ok_and(|v| v == "0");
        ENABLED.store(!off && cfg!(unix), Ordering::Relaxed);
        let _ = epoch();
    }

    /// Watches a descriptor that carries the IDE's messages.
    pub fn watch(fd: i32) {
        if ENABLED.load(Ordering::Relaxed) {
            FDS.lock().expect("spin fds").push((fd, None));
        }
    }

    /// Watches an upstream's descriptor while `calls` (its calls in flight,
    /// counted by [`call_started`]) is not zero.
    pub fn watch_upstream(fd: i32, calls: Arc<AtomicUsize>) {
        if ENABLED.load(Ordering::Relaxed) {
            FDS.lock().expect("spin fds").push((fd, Some(calls)));
        }
    }

    /// Stops watching a descriptor (before it is closed).
    pub fn unwatch(fd: i32) {
        FDS.lock().expect("spin fds").retain(|(f, _)| *f != fd);
    }

    /// A call was sent to the upstream whose calls in flight `calls` counts;
    /// the guard marks its end.
    pub fn call_started(calls: &Arc<AtomicUsize>) -> CallGuard {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        calls.fetch_add(1, Ordering::Relaxed);
        CallGuard(calls.clone())
    }

    pub struct CallGuard(Arc<AtomicUsize>);

    static WRITING: AtomicUsize = AtomicUsize::new(0);

    /// A write is under way; while one waits for its reader (a large
    /// message through a full pipe), the runtime parks without spinning.
    pub fn writing() -> WriteGuard {
        WRITING.fetch_add(1, Ordering::Relaxed);
        WriteGuard
    }

    pub struct WriteGuard;

    impl Drop for WriteGuard {
        fn drop(&mut self) {
            WRITING.fetch_sub(1, Ordering::Relaxed);
        }
    }

    impl Drop for CallGuard {
        fn drop(&mut self) {
            IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// An answer went to the IDE.
    pub fn answered() {
        if ENABLED.load(Ordering::Relaxed) {
            LAST_ANSWER_NANOS.store(epoch().elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// The runtime's before-park hook: spins while a message is likely soon.
    pub fn before_park() {
        if !ENABLED.load(Ordering::Relaxed) || WRITING.load(Ordering::Relaxed) > 0 {
            return;
        }
        let in_flight = IN_FLIGHT.load(Ordering::Relaxed);
        let budget = if in_flight > 0 {
            SPIN_IN_FLIGHT
        } else {
            let since = (epoch().elapsed().as_nanos() as u64)
                .saturating_sub(LAST_ANSWER_NANOS.load(Ordering::Relaxed));
            if in_flight == 0 && since < SPIN_AFTER_ANSWER.as_nanos() as u64 {
                SPIN_AFTER_ANSWER - Duration::from_nanos(since)
            } else {
                return;
            }
        };
        poll_until(budget);
    }

    #[cfg(unix)]
    fn poll_until(budget: Duration) {
        let mut fds: Vec<libc::pollfd> = FDS
            .lock()
            .expect("spin fds")
            .iter()
            .filter(|(_, calls)| calls.as_ref().is_none_or(|c| c.load(Ordering::Relaxed) > 0))
            .map(|&(fd, _)| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if fds.is_empty() {
            return;
        }
        let start = Instant::now();
        while start.elapsed() < budget {
            // SAFETY: fds is a valid array of pollfd for its length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
            if n != 0 {
                return; // ready (or an error: let the runtime see it)
            }
            // Let whoever else is runnable here (the upstream, the IDE) go first.
            // SAFETY: sched_yield has no preconditions.
            unsafe {
                libc::sched_yield();
            }
        }
    }

    #[cfg(not(unix))]
    fn poll_until(_budget: Duration) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn lines_from_many_tasks_all_arrive_whole() {
        let (w, mut r) = tokio::io::duplex(1 << 20);
        let out = std::sync::Arc::new(Outbound::new(Box::pin(w)));
        let mut tasks = Vec::new();
        for i in 0..100 {
            let out = out.clone();
            tasks.push(tokio::spawn(async move {
                out.send(format!("line {i}\n").as_bytes()).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        out.close().await;
        let mut text = String::new();
        r.read_to_string(&mut text).await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 100);
        let mut seen: Vec<usize> = lines
            .iter()
            .map(|l| l.trim_start_matches("line ").parse().unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        // After close, sending fails.
        assert!(out.send(b"late\n").await.is_err());
    }

    #[tokio::test]
    async fn a_scope_writes_its_lines_once_when_it_ends() {
        let (w, mut r) = tokio::io::duplex(1 << 20);
        let (w2, mut r2) = tokio::io::duplex(1 << 20);
        let a = Arc::new(Outbound::new(Box::pin(w)));
        let b = Arc::new(Outbound::new(Box::pin(w2)));
        let outer = batch::begin();
        let inner = batch::begin();
        a.send(b"one\n").await.unwrap();
        b.send(b"x\n").await.unwrap();
        a.send(b"two\n").await.unwrap();
        inner.end().await;
        // Still inside the outer scope: nothing written yet.
        let mut peek = [0u8; 16];
        let nothing = tokio::time::timeout(Duration::from_millis(0), r.read(&mut peek)).await;
        assert!(nothing.is_err(), "a line left before its scope ended");
        outer.end().await;
        let n = r.read(&mut peek).await.unwrap();
        assert_eq!(&peek[..n], b"one\ntwo\n", "both lines in one write");
        let n = r2.read(&mut peek).await.unwrap();
        assert_eq!(&peek[..n], b"x\n");
        // Outside a scope a line goes out at once.
        a.send(b"three\n").await.unwrap();
        let n = r.read(&mut peek).await.unwrap();
        assert_eq!(&peek[..n], b"three\n");
    }

    #[tokio::test]
    async fn a_dropped_scope_still_writes_its_lines() {
        let (w, mut r) = tokio::io::duplex(1 << 20);
        let a = Arc::new(Outbound::new(Box::pin(w)));
        {
            let _scope = batch::begin();
            a.send(b"kept\n").await.unwrap();
        }
        let mut got = [0u8; 8];
        let n = r.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"kept\n");
    }

    #[tokio::test]
    async fn a_reader_batch_ends_before_a_read_that_may_wait() {
        let (w, mut r) = tokio::io::duplex(1 << 20);
        let a = Arc::new(Outbound::new(Box::pin(w)));
        let mut b = batch::Batch::default();
        for i in 0..batch::MAX_LINES + 3 {
            b.next(true).await;
            a.send(format!("{i}\n").as_bytes()).await.unwrap();
        }
        b.next(false).await;
        let mut text = Vec::new();
        let mut chunk = [0u8; 4096];
        while text.iter().filter(|&&c| c == b'\n').count() < batch::MAX_LINES + 3 {
            let n = r.read(&mut chunk).await.unwrap();
            text.extend_from_slice(&chunk[..n]);
        }
        let want: String = (0..batch::MAX_LINES + 3)
            .map(|i| format!("{i}\n"))
            .collect();
        assert_eq!(String::from_utf8(text).unwrap(), want);
    }

    #[tokio::test]
    async fn offered_lines_never_wait_and_are_dropped_beyond_the_backlog() {
        let (w, mut r) = tokio::io::duplex(4096);
        let out = Arc::new(Outbound::new(Box::pin(w)));
        let mut line = vec![b'x'; 1023];
        line.push(b'\n');
        let tries = 2 * OFFER_BACKLOG / line.len();
        let mut taken = 0;
        for _ in 0..tries {
            if out.offer(&line) {
                taken += 1;
            }
            tokio::task::yield_now().await; // the flusher's turn: stuck
        }
        assert!(taken < tries, "nothing was dropped");
        assert!(
            taken * line.len() <= OFFER_BACKLOG + 2 * 4096,
            "{taken} lines kept"
        );
        // Answers are never dropped: they wait their turn.
        out.send(b"answer\n").await.unwrap();
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            r.read_to_end(&mut all).await.unwrap();
            all
        });
        out.close().await;
        let all = reader.await.unwrap();
        assert_eq!(all.len(), taken * line.len() + b"answer\n".len());
        assert!(all.ends_with(b"x\nanswer\n"));
    }

    #[tokio::test]
    async fn a_dropped_flusher_hands_over_to_the_next_sender() {
        let (w, mut r) = tokio::io::duplex(1 << 20);
        let out = Arc::new(Outbound::new(Box::pin(w)));
        {
            // Start a send and drop it at its first await (the yield).
            let fut = out.send(b"first\n");
            let mut fut = Box::pin(fut);
            let waker = std::task::Waker::noop();
            let _ = fut
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker));
        }
        out.send(b"second\n").await.unwrap();
        out.close().await;
        let mut text = String::new();
        r.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "first\nsecond\n");
    }
}
