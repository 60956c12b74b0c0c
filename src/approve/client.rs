//! The UI side of approvals: finds every `serve` process's approval socket,
//! reads what each holds, follows them live, and sends answers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::{Decision, Held, Message};

/// How often the folder of sockets is looked at for new `serve` processes.
pub const SCAN_EVERY: Duration = Duration::from_millis(100);

/// How long one socket may take to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(5);

/// The approval sockets in `dir`: (pid, path). Only sockets owned by this
/// user count.
pub fn sockets(dir: &Path) -> Vec<(u32, PathBuf)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut out: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let pid: u32 = path
                .file_name()?
                .to_str()?
                .strip_suffix(".sock")?
                .parse()
                .ok()?;
            let meta = std::fs::symlink_metadata(&path).ok()?;
            (meta.file_type().is_socket() && meta.uid() == me).then_some((pid, path))
        })
        .collect();
    out.sort();
    out
}

/// One connection to a `serve` process.
pub struct Conn {
    pub pid: u32,
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Conn {
    /// Connects and reads the hello. A socket nobody listens on (its
    /// process died without removing it) is removed.
    pub async fn open(pid: u32, path: &Path) -> Result<(Self, Message)> {
        let stream = match UnixStream::connect(path).await {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                let _ = std::fs::remove_file(path);
                bail!("toolgate serve (pid {pid}) is gone");
            }
            Err(e) => {
                return Err(e).with_context(|| format!("could not connect to {}", path.display()));
            }
        };
        let (read, write) = stream.into_split();
        let mut conn = Self {
            pid,
            lines: BufReader::new(read).lines(),
            write,
        };
        let hello = tokio::time::timeout(HELLO_WITHIN, conn.next())
            .await
            .with_context(|| format!("toolgate serve (pid {pid}) did not answer"))??
            .with_context(|| format!("toolgate serve (pid {pid}) closed the connection"))?;
        Ok((conn, hello))
    }

    /// The next message; `None` when the process closed the socket.
    pub async fn next(&mut self) -> Result<Option<Message>> {
        loop {
            let Some(line) = self.lines.next_line().await? else {
                return Ok(None);
            };
            if line.trim().is_empty() {
                continue;
            }
            return Ok(Some(serde_json::from_str(&line).with_context(|| {
                format!(
                    "toolgate serve (pid {}) sent something unreadable",
                    self.pid
                )
            })?));
        }
    }

    pub async fn send(&mut self, msg: &Message) -> Result<()> {
        let mut line = serde_json::to_string(msg)?;
        line.push('\n');
        self.write.write_all(line.as_bytes()).await?;
        self.write.flush().await?;
        Ok(())
    }

    /// Sends an answer and waits for what became of it.
    pub async fn decide(&mut self, decision: Decision) -> Result<(bool, String)> {
        let id = decision.id.clone();
        self.send(&Message::Decide { decision }).await?;
        while let Some(msg) = self.next().await? {
            if let Message::Answered {
                id: got,
                ok,
                message,
            } = msg
                && (got == id || got.is_empty())
            {
                return Ok((ok, message));
            }
        }
        bail!(
            "toolgate serve (pid {}) closed the connection before answering",
            self.pid
        )
    }
}

/// Every held call of every `serve` process, soonest deadline first.
pub async fn snapshot(dir: &Path) -> Vec<Held> {
    let mut all = Vec::new();
    for (pid, path) in sockets(dir) {
        if let Ok((_, Message::Hello { held, .. })) = Conn::open(pid, &path).await {
            all.extend(held);
        }
    }
    all.sort_by_key(|h| h.deadline_ms);
    all
}

/// Answers the held call `id` (`PID-N`) from a script: fills in its
/// session and arguments hash from what its process holds now.
pub async fn answer(
    dir: &Path,
    id: &str,
    allow: bool,
    reason: Option<String>,
    channel: &str,
) -> Result<String> {
    let pid: u32 = id
        .split_once('-')
        .and_then(|(p, _)| p.parse().ok())
        .with_context(|| {
            format!(
                "{id:?} is not an approval id (they look like 12345-1; see toolgate approve --list)"
            )
        })?;
    let path = super::broker::socket_path(dir, pid);
    if !path.exists() {
        bail!(
            "no toolgate serve with pid {pid} is running (toolgate approve --list shows what waits)"
        );
    }
    let (mut conn, hello) = Conn::open(pid, &path).await?;
    let Message::Hello { held, .. } = hello else {
        bail!("toolgate serve (pid {pid}) did not say hello");
    };
    let Some(call) = held.into_iter().find(|h| h.id == id) else {
        bail!("no call {id} is waiting for approval (it was answered, timed out or cancelled)");
    };
    let (ok, message) = conn
        .decide(Decision {
            id: call.id,
            session: call.session,
            args_hash: call.args_hash,
            allow,
            scope: super::Scope::Once,
            reason,
            channel: channel.into(),
        })
        .await?;
    if ok { Ok(message) } else { bail!("{message}") }
}

/// What the hub tells the UI.
#[derive(Debug)]
pub enum HubEvent {
    /// A process connected (its hello), or sent something.
    Message(u32, Box<Message>),
    /// A process went away.
    Gone(u32),
}

/// Follows every `serve` process: connects to new sockets as they appear,
/// forwards what they send, and takes answers to send to them.
pub struct Hub {
    pub events: mpsc::UnboundedReceiver<HubEvent>,
    decide: mpsc::UnboundedSender<Decision>,
}

impl Hub {
    pub fn start(dir: PathBuf) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (decide, mut decisions) = mpsc::unbounded_channel::<Decision>();
        tokio::spawn(async move {
            let mut writers: HashMap<u32, mpsc::UnboundedSender<Decision>> = HashMap::new();
            let mut scan = tokio::time::interval(SCAN_EVERY);
            loop {
                tokio::select! {
                    _ = scan.tick() => {
                        writers.retain(|_, w| !w.is_closed());
                        for (pid, path) in sockets(&dir) {
                            if writers.contains_key(&pid) {
                                continue;
                            }
                            let (tx, rx) = mpsc::unbounded_channel();
                            writers.insert(pid, tx);
                            tokio::spawn(follow(pid, path, rx, events_tx.clone()));
                        }
                    }
                    d = decisions.recv() => {
                        let Some(d) = d else { return };
                        let pid = d.id.split_once('-').and_then(|(p, _)| p.parse::<u32>().ok());
                        match pid.and_then(|p| writers.get(&p)) {
                            Some(w) => { let _ = w.send(d); }
                            None => {
                                let _ = events_tx.send(HubEvent::Message(0, Box::new(Message::Answered {
                                    id: d.id.clone(),
                                    ok: false,
                                    message: format!("the process holding call {} is gone", d.id),
                                })));
                            }
                        }
                    }
                }
            }
        });
        Self { events, decide }
    }

    pub fn send(&self, d: Decision) {
        let _ = self.decide.send(d);
    }
}

async fn follow(
    pid: u32,
    path: PathBuf,
    mut decisions: mpsc::UnboundedReceiver<Decision>,
    events: mpsc::UnboundedSender<HubEvent>,
) {
    let Ok((mut conn, hello)) = Conn::open(pid, &path).await else {
        return;
    };
    if events
        .send(HubEvent::Message(pid, Box::new(hello)))
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            msg = conn.next() => match msg {
                Ok(Some(m)) => if events.send(HubEvent::Message(pid, Box::new(m))).is_err() { return },
                _ => break,
            },
            d = decisions.recv() => match d {
                Some(d) => if conn.send(&Message::Decide { decision: d }).await.is_err() { break },
                None => return,
            },
        }
    }
    let _ = events.send(HubEvent::Gone(pid));
}
