//! The serve side of approvals: one [`Broker`] per `serve` process holds
//! its calls waiting for a person, offers them on the process's approval
//! socket, and takes answers from the terminal UI, the CLI (where the
//! profile allows it) or the IDE (elicitation).
//!
//! An answer is bound to one call: its id, this process's session and the
//! SHA-256 of the call's arguments must all match, so an approval cannot be
//! replayed for another call. Only the same OS user can connect (socket
//! 0600 in a 0700 directory, the peer's uid checked); an answer given as
//! from the terminal UI must come from a process whose standard input is a
//! terminal.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, oneshot};

use super::{Activity, Agent, Decision, Held, Message, Scope};

/// Makes `to` hold `text`, in the buffer it has.
fn set(to: &mut String, text: &str) {
    to.clear();
    to.push_str(text);
}

/// How many recent activity entries a process keeps for a UI that connects.
const RECENT: usize = 50;

/// The longest line an approval socket accepts (a decision is small).
const MAX_LINE: usize = 64 * 1024;

/// What the org's profile (or, without one, the user) set for approvals:
/// `[policy.approvals]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How long a held call waits before it is denied (default 120 s); a
    /// rule's own `timeout` overrides it.
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// Also ask in the IDE, where it declared form elicitation. Off by
    /// default: an IDE that auto-accepts would turn step-up into allow.
    #[serde(default)]
    pub elicitation: bool,
    /// Accept `toolgate approve ID --allow|--deny` from scripts (no
    /// terminal). For automation and tests; off by default.
    #[serde(default)]
    pub cli: bool,
    /// A desktop notification for each held call, where the platform has
    /// one (`notify-send` on Linux).
    #[serde(default)]
    pub notify: bool,
}

fn default_timeout() -> String {
    "120s".into()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: default_timeout(),
            elicitation: false,
            cli: false,
            notify: false,
        }
    }
}

/// The channel of the answer [`Broker::abandon_all`] gives.
pub const ABANDONED: &str = "abandoned";

/// What became of a held call.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub allow: bool,
    pub scope: Scope,
    pub reason: Option<String>,
    /// `tui`, `cli`, `ide`, or `session` (an earlier approval for the
    /// session).
    pub channel: String,
    /// The OS user who answered.
    pub user: String,
}

struct Pending {
    held: Held,
    answer: Option<oneshot::Sender<Answer>>,
}

/// One `serve` process's approvals.
pub struct Broker {
    pid: u32,
    session: String,
    window: String,
    agent: Mutex<Agent>,
    next: AtomicU64,
    pending: Mutex<HashMap<String, Pending>>,
    /// (server, tool) approved for the rest of this session.
    granted: Mutex<HashSet<(String, String)>>,
    recent: Mutex<VecDeque<Activity>>,
    /// Lines for every connected UI.
    feed: broadcast::Sender<String>,
    socket: Mutex<Option<PathBuf>>,
}

impl Broker {
    pub fn new() -> Arc<Self> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        let window = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        Arc::new(Self {
            pid: std::process::id(),
            session: crate::util::hex(&bytes),
            window,
            agent: Mutex::new(Agent::default()),
            next: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            granted: Mutex::new(HashSet::new()),
            recent: Mutex::new(VecDeque::new()),
            feed: broadcast::channel(256).0,
            socket: Mutex::new(None),
        })
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    /// The agent, once `initialize` named it.
    pub fn set_agent(&self, agent: Agent) {
        *self.agent.lock().expect("agent lock") = agent;
    }

    pub fn agent(&self) -> Agent {
        self.agent.lock().expect("agent lock").clone()
    }

    /// Whether this session already approved the tool.
    pub fn granted(&self, server: &str, tool: &str) -> bool {
        self.granted
            .lock()
            .expect("granted lock")
            .contains(&(server.to_owned(), tool.to_owned()))
    }

    /// Holds a call: it is shown to every connected UI until [`finish`]
    /// is called with its id. The receiver gets the first answer.
    ///
    /// [`finish`]: Broker::finish
    #[allow(clippy::too_many_arguments)]
    pub fn hold(
        &self,
        server: &str,
        tool: &str,
        exposed: &str,
        args: serde_json::Value,
        args_hash: String,
        rule: &str,
        reason: Option<String>,
        held_at_ms: i64,
        deadline_ms: i64,
    ) -> (Held, oneshot::Receiver<Answer>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let held = Held {
            id: format!("{}-{n}", self.pid),
            pid: self.pid,
            session: self.session.clone(),
            agent: self.agent(),
            window: self.window.clone(),
            server: server.to_owned(),
            tool: tool.to_owned(),
            exposed: exposed.to_owned(),
            args,
            args_hash,
            rule: rule.to_owned(),
            reason,
            held_at_ms,
            deadline_ms,
        };
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(
            held.id.clone(),
            Pending {
                held: held.clone(),
                answer: Some(tx),
            },
        );
        self.broadcast(&Message::Held { call: held.clone() });
        (held, rx)
    }

    /// The call is no longer waiting (`outcome`: approved, rejected, timed
    /// out, cancelled, failed): every UI drops it.
    pub fn finish(&self, id: &str, outcome: &str) {
        if self
            .pending
            .lock()
            .expect("pending lock")
            .remove(id)
            .is_some()
        {
            self.broadcast(&Message::Gone {
                id: id.to_owned(),
                outcome: outcome.to_owned(),
            });
        }
    }

    /// Records a call's outcome for the activity view.
    pub fn record(&self, server: &str, tool: &str, outcome: &str, by: &str, at_ms: i64) {
        // Every call passes here: the oldest entry's strings are reused, so
        // that a call costs no allocation once the list is full, and nothing
        // is copied unless a UI is watching.
        let reused = {
            let mut recent = self.recent.lock().expect("recent lock");
            (recent.len() >= RECENT)
                .then(|| recent.pop_back())
                .flatten()
        };
        let mut entry = reused.unwrap_or_else(|| Activity {
            at_ms,
            pid: self.pid,
            agent: Agent::default(),
            server: String::new(),
            tool: String::new(),
            outcome: String::new(),
            by: String::new(),
        });
        entry.at_ms = at_ms;
        entry.pid = self.pid;
        {
            let agent = self.agent.lock().expect("agent lock");
            set(&mut entry.agent.name, &agent.name);
            set(&mut entry.agent.version, &agent.version);
        }
        set(&mut entry.server, server);
        set(&mut entry.tool, tool);
        set(&mut entry.outcome, outcome);
        set(&mut entry.by, by);
        if self.feed.receiver_count() > 0 {
            self.broadcast(&Message::Activity {
                entry: entry.clone(),
            });
        }
        self.recent.lock().expect("recent lock").push_front(entry);
    }

    /// Takes an answer to a held call, if it is bound to that call and its
    /// channel is allowed. Returns the words for the one who answered.
    pub fn decide(
        &self,
        decision: &Decision,
        user: &str,
        settings: &Settings,
    ) -> Result<String, String> {
        if decision.channel == "cli" && !settings.cli {
            return Err("toolgate refuses approvals from scripts: answer in the terminal UI (`toolgate approve`), or ask your org to set cli = true under [policy.approvals] in the profile".into());
        }
        let mut pending = self.pending.lock().expect("pending lock");
        let Some(p) = pending.get_mut(&decision.id) else {
            return Err(format!(
                "no call {} is waiting for approval (it was answered, timed out or cancelled)",
                decision.id
            ));
        };
        if p.held.session != decision.session || p.held.args_hash != decision.args_hash {
            return Err(format!(
                "this answer is not for call {}: its session or arguments differ, so it cannot be replayed for another call",
                decision.id
            ));
        }
        let Some(tx) = p.answer.take() else {
            return Err(format!("call {} was already answered", decision.id));
        };
        if decision.allow && decision.scope == Scope::Session {
            self.granted
                .lock()
                .expect("granted lock")
                .insert((p.held.server.clone(), p.held.tool.clone()));
        }
        let words = format!(
            "{} call {} ({} of {}){}",
            if decision.allow { "approved" } else { "denied" },
            decision.id,
            p.held.tool,
            p.held.server,
            if decision.allow && decision.scope == Scope::Session {
                "; the tool is approved for the rest of this agent session"
            } else {
                ""
            }
        );
        let _ = tx.send(Answer {
            allow: decision.allow,
            scope: decision.scope,
            reason: decision.reason.clone(),
            channel: decision.channel.clone(),
            user: user.to_owned(),
        });
        Ok(words)
    }

    /// Ends every wait (the IDE is gone): each held call is answered as
    /// abandoned.
    pub fn abandon_all(&self) {
        for p in self.pending.lock().expect("pending lock").values_mut() {
            if let Some(tx) = p.answer.take() {
                let _ = tx.send(Answer {
                    allow: false,
                    scope: Scope::Once,
                    reason: None,
                    channel: ABANDONED.into(),
                    user: String::new(),
                });
            }
        }
    }

    /// What a UI gets first.
    fn hello(&self) -> Message {
        let mut held: Vec<Held> = self
            .pending
            .lock()
            .expect("pending lock")
            .values()
            .map(|p| p.held.clone())
            .collect();
        held.sort_by_key(|h| h.deadline_ms);
        Message::Hello {
            pid: self.pid,
            session: self.session.clone(),
            agent: self.agent(),
            window: self.window.clone(),
            held,
            recent: self
                .recent
                .lock()
                .expect("recent lock")
                .iter()
                .cloned()
                .collect(),
        }
    }

    fn broadcast(&self, msg: &Message) {
        if self.feed.receiver_count() == 0 {
            return;
        }
        if let Ok(line) = serde_json::to_string(msg) {
            // No UI connected is fine: the calls wait in `pending`.
            let _ = self.feed.send(line);
        }
    }

    /// Listens on `dir/<pid>.sock` until the process ends; the socket is
    /// removed by [`Broker::close`].
    pub fn listen(self: &Arc<Self>, dir: &Path) -> std::io::Result<()> {
        crate::config::paths::ensure_private_dir(dir).map_err(std::io::Error::other)?;
        // An existing folder may have been made with looser permissions.
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let path = socket_path(dir, self.pid);
        // A socket left by a process that had this pid before.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        *self.socket.lock().expect("socket lock") = Some(path);
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let me = me.clone();
                        tokio::spawn(async move { me.serve_ui(stream).await });
                    }
                    Err(e) => {
                        tracing::warn!("the approval socket stopped accepting: {e}");
                        break;
                    }
                }
            }
        });
        Ok(())
    }

    /// Removes the socket (the process is ending).
    pub fn close(&self) {
        if let Some(path) = self.socket.lock().expect("socket lock").take() {
            let _ = std::fs::remove_file(path);
        }
    }

    async fn serve_ui(self: Arc<Self>, stream: UnixStream) {
        let peer = match peer_of(&stream) {
            Ok(p) => p,
            Err(why) => {
                tracing::warn!("refused a connection to the approval socket: {why}");
                return;
            }
        };
        let (read, mut write) = stream.into_split();
        let mut feed = self.feed.subscribe();
        let Ok(hello) = serde_json::to_string(&self.hello()) else {
            return;
        };
        if write_line(&mut write, &hello).await.is_err() {
            return;
        }
        let mut lines = BufReader::new(read);
        let mut buf = String::new();
        loop {
            tokio::select! {
                line = feed.recv() => match line {
                    Ok(line) => if write_line(&mut write, &line).await.is_err() { return },
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too slow a reader: start it over from a snapshot.
                        let Ok(hello) = serde_json::to_string(&self.hello()) else { return };
                        if write_line(&mut write, &hello).await.is_err() { return }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                n = read_bounded(&mut lines, &mut buf) => {
                    match n {
                        Ok(true) => {}
                        _ => return,
                    }
                    let reply = self.on_ui_line(buf.trim(), &peer);
                    buf.clear();
                    if let Some(reply) = reply
                        && let Ok(line) = serde_json::to_string(&reply)
                        && write_line(&mut write, &line).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    }

    fn on_ui_line(&self, line: &str, peer: &Peer) -> Option<Message> {
        if line.is_empty() {
            return None;
        }
        let decision = match serde_json::from_str::<Message>(line) {
            Ok(Message::Decide { decision }) => decision,
            Ok(_) => return None,
            Err(e) => {
                return Some(Message::Answered {
                    id: String::new(),
                    ok: false,
                    message: format!("toolgate could not read that message: {e}"),
                });
            }
        };
        let settings = settings();
        let result = match decision.channel.as_str() {
            "tui" if !peer.interactive => Err(
                "toolgate takes answers marked as from the terminal UI only from a process on a terminal".to_string(),
            ),
            "tui" | "cli" => self.decide(&decision, &peer.user, &settings),
            other => Err(format!("unknown approval channel {other:?}")),
        };
        Some(Message::Answered {
            id: decision.id.clone(),
            ok: result.is_ok(),
            message: result.unwrap_or_else(|e| e),
        })
    }
}

/// The approval settings in force (the policy's, else the defaults).
pub fn settings() -> Settings {
    crate::policy::current()
        .and_then(|p| p.approvals().cloned())
        .unwrap_or_default()
}

/// `dir/<pid>.sock`.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

async fn write_line(w: &mut tokio::net::unix::OwnedWriteHalf, line: &str) -> std::io::Result<()> {
    w.write_all(line.as_bytes()).await?;
    w.write_all(b"\n").await?;
    w.flush().await
}

/// Reads one line of at most [`MAX_LINE`] bytes; `Ok(false)` at the end.
async fn read_bounded(
    r: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    buf: &mut String,
) -> std::io::Result<bool> {
    let mut limited = (&mut *r).take(MAX_LINE as u64);
    let n = limited.read_line(buf).await?;
    if n == 0 {
        return Ok(false);
    }
    if !buf.ends_with('\n') && n >= MAX_LINE {
        return Err(std::io::Error::other("line too long"));
    }
    Ok(true)
}

/// Who is on the other end of an approval socket.
struct Peer {
    user: String,
    /// Its standard input is a terminal.
    interactive: bool,
}

fn peer_of(stream: &UnixStream) -> Result<Peer, String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("its credentials cannot be read: {e}"))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if cred.uid() != me {
        return Err(format!("uid {} is not this user (uid {me})", cred.uid()));
    }
    let interactive = cred.pid().is_some_and(|pid| on_terminal(pid as u32));
    Ok(Peer {
        user: crate::util::os_user(),
        interactive,
    })
}

/// Whether a process's standard input is a terminal. Linux reads it from
/// /proc; elsewhere it cannot be told and the uid check alone applies.
#[cfg(target_os = "linux")]
fn on_terminal(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/fd/0")).is_ok_and(|target| {
        let t = target.to_string_lossy();
        t.starts_with("/dev/pts/") || t.starts_with("/dev/tty")
    })
}

#[cfg(not(target_os = "linux"))]
fn on_terminal(_pid: u32) -> bool {
    true
}

/// The process-wide broker of `serve`.
static BROKER: OnceLock<Arc<Broker>> = OnceLock::new();

pub fn install(b: Arc<Broker>) {
    let _ = BROKER.set(b);
}

pub fn current() -> Option<&'static Arc<Broker>> {
    BROKER.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn held(b: &Broker, tool: &str, args: serde_json::Value) -> (Held, oneshot::Receiver<Answer>) {
        let hash = crate::util::sha256_hex(args.to_string().as_bytes());
        b.hold("git", tool, tool, args, hash, "rule", None, 0, 1000)
    }

    fn answer(h: &Held, allow: bool, scope: Scope, channel: &str) -> Decision {
        Decision {
            id: h.id.clone(),
            session: h.session.clone(),
            args_hash: h.args_hash.clone(),
            allow,
            scope,
            reason: None,
            channel: channel.into(),
        }
    }

    fn scripts_allowed() -> Settings {
        Settings {
            cli: true,
            ..Settings::default()
        }
    }

    #[test]
    fn an_answer_is_bound_to_its_call() {
        let b = Broker::new();
        let (first, _rx1) = held(&b, "push", json!({"branch": "main"}));
        let (second, mut rx2) = held(&b, "push", json!({"branch": "prod"}));
        // The first call's approval, replayed for the second: refused.
        let mut replay = answer(&first, true, Scope::Once, "tui");
        replay.id = second.id.clone();
        let err = b.decide(&replay, "me", &Settings::default()).unwrap_err();
        assert!(err.contains("cannot be replayed"), "{err}");
        // Another session's answer: refused.
        let mut foreign = answer(&second, true, Scope::Once, "tui");
        foreign.session = "someone-else".into();
        assert!(b.decide(&foreign, "me", &Settings::default()).is_err());
        assert!(rx2.try_recv().is_err(), "nothing was decided");
        // The right answer goes through, once.
        let ok = answer(&second, true, Scope::Once, "tui");
        assert!(b.decide(&ok, "me", &Settings::default()).is_ok());
        let got = rx2.try_recv().unwrap();
        assert!(got.allow && got.user == "me" && got.channel == "tui");
        let err = b.decide(&ok, "me", &Settings::default()).unwrap_err();
        assert!(err.contains("already answered"), "{err}");
        // Gone once finished.
        b.finish(&second.id, "approved");
        let err = b.decide(&ok, "me", &Settings::default()).unwrap_err();
        assert!(err.contains("no call"), "{err}");
    }

    #[test]
    fn approve_for_session_covers_that_tool_only() {
        let b = Broker::new();
        let (h, _rx) = held(&b, "push", json!({}));
        assert!(!b.granted("git", "push"));
        // Once: no grant.
        let (once, _rx2) = held(&b, "push", json!({"n": 1}));
        b.decide(
            &answer(&once, true, Scope::Once, "tui"),
            "me",
            &Settings::default(),
        )
        .unwrap();
        assert!(!b.granted("git", "push"));
        // A denial "for the session" grants nothing.
        let (d, _rx3) = held(&b, "push", json!({"n": 2}));
        b.decide(
            &answer(&d, false, Scope::Session, "tui"),
            "me",
            &Settings::default(),
        )
        .unwrap();
        assert!(!b.granted("git", "push"));
        b.decide(
            &answer(&h, true, Scope::Session, "tui"),
            "me",
            &Settings::default(),
        )
        .unwrap();
        assert!(b.granted("git", "push"));
        // Not another tool, not the same tool of another server, not
        // another session (another process has its own broker).
        assert!(!b.granted("git", "force_push"));
        assert!(!b.granted("github", "push"));
        assert!(!Broker::new().granted("git", "push"));
    }

    #[test]
    fn scripts_answer_only_where_allowed() {
        let b = Broker::new();
        let (h, mut rx) = held(&b, "push", json!({}));
        let d = answer(&h, true, Scope::Once, "cli");
        let err = b.decide(&d, "me", &Settings::default()).unwrap_err();
        assert!(err.contains("refuses approvals from scripts"), "{err}");
        assert!(rx.try_recv().is_err());
        assert!(b.decide(&d, "me", &scripts_allowed()).is_ok());
        assert!(rx.try_recv().unwrap().allow);
    }

    #[test]
    fn the_hello_holds_what_waits_and_what_happened() {
        let b = Broker::new();
        let (late, _r1) = b.hold("s", "t", "t", json!({}), "h".into(), "r", None, 0, 9000);
        let (soon, _r2) = b.hold("s", "u", "u", json!({}), "h".into(), "r", None, 0, 5000);
        b.record("s", "v", "allowed", "policy", 1);
        match b.hello() {
            Message::Hello { held, recent, .. } => {
                assert_eq!(
                    held.iter().map(|h| &h.id).collect::<Vec<_>>(),
                    [&soon.id, &late.id]
                );
                assert_eq!(recent.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        b.abandon_all();
    }
}
