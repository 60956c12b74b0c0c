//! The approval terminal UI: its state, drawing and key handling.
//!
//! Pure: no I/O, no sockets, no terminal set-up and no clock. The event loop
//! feeds an [`App`] the [`Message`]s from the `serve` processes
//! ([`App::apply`], [`App::forget_process`]), the time ([`App::set_now`]),
//! how many processes are connected ([`App::set_connected`]) and key presses
//! ([`App::handle_key`]); it sends the [`Decision`]s that come back as
//! [`Action::Decide`] and calls [`App::draw`] with a frame of whatever size
//! the terminal has now.
//!
//! Everything that comes from a held call or an activity entry goes through
//! [`printable`] before it is drawn, so neither an upstream's tool names nor
//! an agent's arguments can move the cursor, clear the screen or reorder
//! text. Colour is never the only signal (the selection is marked with `>`
//! and reversed video), and there is none at all when [`App::colour`] is
//! false (`NO_COLOR`).
//!
//! An answered call stays in the list, marked "approving…" or "denying…",
//! until its `serve` process says it is [`Message::Gone`]; it cannot be
//! answered twice (unless the answer was refused).
//!
//! # Keys
//!
//! | Key                      | What it does                                        |
//! |--------------------------|-----------------------------------------------------|
//! | `↑`/`k`, `↓`/`j`         | select a held call (on Activity: scroll)            |
//! | `Home`/`g`, `End`/`G`    | first / last call                                   |
//! | `a`, `Enter`             | approve the selected call, this once                |
//! | `s`                      | approve this tool for the rest of the agent session |
//! | `d`                      | deny: type an optional reason, `Enter` sends it, `Esc` cancels |
//! | `PgUp`/`PgDn`, `K`/`J`, `Ctrl-u`/`Ctrl-d` | scroll the details and arguments |
//! | `Tab`                    | switch between the Pending and Activity views       |
//! | `Esc`                    | clear the status line                               |
//! | `?`                      | show / hide the help                                |
//! | `q`, `Ctrl-c`            | quit (held calls keep waiting)                      |

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Clear, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap,
};

use super::{Activity, Agent, Decision, Held, Message, Scope, printable};

/// How many activity entries the UI keeps.
pub const ACTIVITY_CAP: usize = 200;

/// The channel a decision from this UI names.
const CHANNEL: &str = "tui";

/// The longest deny reason one can type.
const REASON_MAX_CHARS: usize = 500;

/// Below this size only "terminal too small" is drawn.
const MIN_WIDTH: u16 = 20;
const MIN_HEIGHT: u16 = 5;

/// Width of the labels in the details pane ("Session  ").
const LABEL_WIDTH: usize = 9;

/// The activity table's columns (the narrower the terminal, the fewer
/// are shown).
const ACTIVITY_COLUMNS: [(&str, Constraint); 5] = [
    ("Time", Constraint::Length(8)),
    ("Agent", Constraint::Fill(2)),
    ("Server/tool", Constraint::Fill(3)),
    ("Outcome", Constraint::Length(10)),
    ("By", Constraint::Fill(2)),
];

/// The help overlay: every key and what it does.
const KEYS: &[(&str, &str)] = &[
    ("↑ k  ↓ j", "select a call (on Activity: scroll)"),
    ("Home  End", "first / last call (also g G)"),
    ("a  Enter", "approve this call, once"),
    ("s", "approve this tool for the rest of the agent session"),
    (
        "d",
        "deny: type a reason (optional), Enter sends, Esc cancels",
    ),
    ("PgUp  PgDn", "scroll the details (also K J, Ctrl-u Ctrl-d)"),
    ("Tab", "switch between Pending and Activity"),
    ("Esc", "clear the status line"),
    ("?", "show / hide this help"),
    ("q  Ctrl-c", "quit (held calls keep waiting)"),
];

/// What the event loop should do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this answer to the `serve` process holding the call.
    Decide(Decision),
    /// Leave the UI.
    Quit,
}

/// Which list the body shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum View {
    /// The held calls and the selected one's details.
    #[default]
    Pending,
    /// Recent calls and what became of them.
    Activity,
}

/// What keys currently do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Mode {
    /// Selecting and answering calls.
    #[default]
    Normal,
    /// Typing the reason for denying call `id`.
    Reason { id: String, input: String },
    /// The help overlay is open.
    Help,
}

/// A one-line key hint in the footer: shown in order, kept by `rank` (lower
/// first) when the line is too narrow for all of them.
struct Hint {
    key: &'static str,
    what: &'static str,
    rank: u8,
}

const fn hint(key: &'static str, what: &'static str, rank: u8) -> Hint {
    Hint { key, what, rank }
}

const PENDING_HINTS: &[Hint] = &[
    hint("a", "approve", 0),
    hint("s", "session", 3),
    hint("d", "deny", 0),
    hint("↑↓", "select", 6),
    hint("PgUp/PgDn", "scroll", 5),
    hint("Tab", "activity", 4),
    hint("?", "help", 1),
    hint("q", "quit", 2),
];
const ACTIVITY_HINTS: &[Hint] = &[
    hint("↑↓", "scroll", 2),
    hint("Tab", "pending", 0),
    hint("?", "help", 1),
    hint("q", "quit", 1),
];
const REASON_HINTS: &[Hint] = &[hint("Enter", "deny", 0), hint("Esc", "cancel", 0)];
const HELP_HINTS: &[Hint] = &[hint("?/Esc", "close help", 0), hint("q", "quit", 1)];

/// Which columns of the held-calls list fit.
#[derive(Debug, Clone, Copy)]
enum ListColumns {
    All,
    ToolAndTime,
    Tool,
}

/// The details pane's size at the last draw, so that paging knows how far
/// a page is and where the end is.
#[derive(Debug, Clone, Copy)]
struct Viewport {
    lines: usize,
    height: usize,
}

/// The approval UI's state.
#[derive(Debug)]
pub struct App {
    /// Draw with colours; false when `NO_COLOR` is set (then only bold,
    /// reversed and the like are used).
    pub colour: bool,
    /// Held calls, soonest deadline first.
    pending: Vec<Held>,
    /// Recent activity, newest first, at most [`ACTIVITY_CAP`].
    activity: VecDeque<Activity>,
    /// Index into `pending`.
    selected: usize,
    /// First line of the details pane shown.
    scroll: usize,
    /// First row of the activity table shown.
    activity_offset: usize,
    view: View,
    mode: Mode,
    status: String,
    now_ms: i64,
    connected: usize,
    /// Calls answered from here and not yet gone: id -> allowed.
    answering: HashMap<String, bool>,
    /// The selected call went away and another took its place without the
    /// person moving: the next answer key only says so, so that nobody
    /// answers a call they have not looked at.
    moved: bool,
    details: Cell<Option<Viewport>>,
}

impl App {
    /// An empty UI; the event loop then sets the time and feeds it messages.
    pub fn new(colour: bool) -> Self {
        Self {
            colour,
            pending: Vec::new(),
            activity: VecDeque::new(),
            selected: 0,
            scroll: 0,
            activity_offset: 0,
            view: View::default(),
            mode: Mode::default(),
            status: String::new(),
            now_ms: 0,
            connected: 0,
            answering: HashMap::new(),
            moved: false,
            details: Cell::new(None),
        }
    }

    /// The held calls, soonest deadline first.
    pub fn pending(&self) -> &[Held] {
        &self.pending
    }

    /// Recent activity, newest first.
    pub fn activity(&self) -> &VecDeque<Activity> {
        &self.activity
    }

    /// The selected held call, if any.
    pub fn selected(&self) -> Option<&Held> {
        self.pending.get(self.selected)
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view
    }

    /// The current input mode.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The status line (raw; [`App::draw`] makes it printable).
    pub fn status(&self) -> &str {
        &self.status
    }

    /// Replaces the status line, e.g. with an error from the event loop.
    pub fn set_status(&mut self, status: impl Into<String>) {
        self.status = status.into();
    }

    /// Sets the clock (Unix milliseconds) that time left is measured from.
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// Sets how many `serve` processes are connected.
    pub fn set_connected(&mut self, connected: usize) {
        self.connected = connected;
    }

    /// Takes in one message from a `serve` process.
    pub fn apply(&mut self, msg: &Message) {
        match msg {
            Message::Hello {
                pid, held, recent, ..
            } => self.hello(*pid, held, recent),
            Message::Held { call } => self.keep_selection(|app| app.insert(call.clone())),
            Message::Gone { id, outcome } => self.gone(id, outcome),
            Message::Activity { entry } => self.push_activity(entry.clone()),
            Message::Answered { id, ok, message } => self.answered(id, *ok, message),
            // UI -> serve only.
            Message::Decide { .. } => {}
        }
    }

    /// A `serve` process went away: its held calls went with it.
    pub fn forget_process(&mut self, pid: u32) {
        let before = self.pending.len();
        self.keep_selection(|app| app.pending.retain(|call| call.pid != pid));
        let lost = before - self.pending.len();
        if lost > 0 {
            self.status = format!(
                "process {pid} went away; {} went with it",
                count(lost, "held call", "held calls")
            );
        }
    }

    /// A process (re)introduced itself: what it holds now replaces what the
    /// UI had from it, and its recent activity is merged in.
    fn hello(&mut self, pid: u32, held: &[Held], recent: &[Activity]) {
        self.keep_selection(|app| {
            app.pending.retain(|call| call.pid != pid);
            for call in held {
                app.insert(call.clone());
            }
        });
        for entry in recent {
            if !self.activity.contains(entry) {
                self.activity.push_back(entry.clone());
            }
        }
        self.activity
            .make_contiguous()
            .sort_by_key(|entry| std::cmp::Reverse(entry.at_ms));
        self.activity.truncate(ACTIVITY_CAP);
    }

    /// Inserts (or replaces) a held call in deadline order.
    fn insert(&mut self, call: Held) {
        self.pending.retain(|held| held.id != call.id);
        let key = (call.deadline_ms, call.id.as_str());
        let at = self
            .pending
            .partition_point(|held| (held.deadline_ms, held.id.as_str()) < key);
        self.pending.insert(at, call);
    }

    fn gone(&mut self, id: &str, outcome: &str) {
        let label = self
            .index_of(id)
            .map(|i| format!(" ({})", call_label(&self.pending[i])))
            .unwrap_or_default();
        self.keep_selection(|app| app.pending.retain(|call| call.id != id));
        self.status = format!("call {id}{label}: {outcome}");
    }

    fn push_activity(&mut self, entry: Activity) {
        self.activity.push_front(entry);
        self.activity.truncate(ACTIVITY_CAP);
        if self.activity_offset > 0 {
            // Keep the rows in view where they were.
            self.activity_offset = (self.activity_offset + 1).min(self.activity.len() - 1);
        }
    }

    fn answered(&mut self, id: &str, ok: bool, message: &str) {
        if ok {
            self.status = if message.is_empty() || message == "ok" {
                format!("call {id}: answer accepted")
            } else {
                format!("call {id}: answer accepted: {message}")
            };
        } else {
            // Refused, so nothing was decided: the call can be answered again.
            self.answering.remove(id);
            self.status = format!("call {id}: answer refused: {message}");
        }
    }

    /// Runs a change to the pending list, then selects the same call again
    /// if it is still there (or the one now in its place if not, noting
    /// that it moved), and drops what belonged to calls that are gone.
    fn keep_selection(&mut self, change: impl FnOnce(&mut Self)) {
        let before = self.selected().map(|call| call.id.clone());
        change(self);
        match before.as_deref().and_then(|id| self.index_of(id)) {
            Some(index) => self.selected = index,
            None => {
                self.selected = self.selected.min(self.pending.len().saturating_sub(1));
                self.scroll = 0;
                self.moved = before.is_some() && self.selected().is_some();
            }
        }
        let pending = &self.pending;
        self.answering
            .retain(|id, _| pending.iter().any(|call| &call.id == id));
        if let Mode::Reason { id, .. } = &self.mode
            && self.index_of(id).is_none()
        {
            self.mode = Mode::Normal;
        }
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.pending.iter().position(|call| call.id == id)
    }

    /// Handles one key press; returns what the event loop should do.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        match self.mode {
            Mode::Normal => self.normal_key(key),
            Mode::Reason { .. } => self.reason_key(key),
            Mode::Help => self.help_key(key),
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::ALT) {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match (key.code, ctrl) {
            (KeyCode::Char('q'), false) => return Some(Action::Quit),
            (KeyCode::Char('?'), false) => self.mode = Mode::Help,
            (KeyCode::Tab | KeyCode::BackTab, _) => self.switch_view(),
            (KeyCode::Esc, _) => self.status.clear(),
            (KeyCode::Up | KeyCode::Char('k'), false) => self.step(-1),
            (KeyCode::Down | KeyCode::Char('j'), false) => self.step(1),
            (KeyCode::Home | KeyCode::Char('g'), false) => self.step(isize::MIN),
            (KeyCode::End | KeyCode::Char('G'), false) => self.step(isize::MAX),
            (KeyCode::PageUp, _) | (KeyCode::Char('K'), false) | (KeyCode::Char('u'), true) => {
                self.page(-1);
            }
            (KeyCode::PageDown, _) | (KeyCode::Char('J'), false) | (KeyCode::Char('d'), true) => {
                self.page(1);
            }
            (KeyCode::Char('a') | KeyCode::Enter, false) => return self.approve(Scope::Once),
            (KeyCode::Char('s'), false) => return self.approve(Scope::Session),
            (KeyCode::Char('d'), false) => self.start_deny(),
            _ => {}
        }
        None
    }

    fn reason_key(&mut self, key: KeyEvent) -> Option<Action> {
        let Mode::Reason { id, input } = &mut self.mode else {
            return None;
        };
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                self.status = "deny cancelled".to_owned();
            }
            KeyCode::Enter => {
                let id = std::mem::take(id);
                let reason = input.trim().to_owned();
                self.mode = Mode::Normal;
                return self.deny(&id, (!reason.is_empty()).then_some(reason));
            }
            KeyCode::Backspace => {
                input.pop();
            }
            // Only characters a terminal shows as themselves: the reason
            // ends up in logs and in front of the agent.
            KeyCode::Char(c)
                if !key.modifiers.contains(KeyModifiers::CONTROL)
                    && is_printable(c)
                    && input.chars().count() < REASON_MAX_CHARS =>
            {
                input.push(c);
            }
            _ => {}
        }
        None
    }

    fn help_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter => self.mode = Mode::Normal,
            _ => {}
        }
        None
    }

    fn switch_view(&mut self) {
        self.view = match self.view {
            View::Pending => View::Activity,
            View::Activity => View::Pending,
        };
    }

    /// Moves the selection (Pending) or the first row shown (Activity) by
    /// `delta`, clamped to the list.
    fn step(&mut self, delta: isize) {
        match self.view {
            View::Pending => {
                self.moved = false;
                let last = self.pending.len().saturating_sub(1);
                let selected = self.selected.saturating_add_signed(delta).min(last);
                if selected != self.selected {
                    self.selected = selected;
                    self.scroll = 0;
                }
            }
            View::Activity => {
                let last = self.activity.len().saturating_sub(1);
                self.activity_offset = self.activity_offset.saturating_add_signed(delta).min(last);
            }
        }
    }

    /// Scrolls the details (Pending) or the activity (Activity) by a page.
    fn page(&mut self, direction: isize) {
        let viewport = self.details.get();
        match self.view {
            View::Pending => {
                let height = viewport.map_or(10, |v| v.height);
                let page = height.saturating_sub(1).max(1);
                let end = viewport.map_or(usize::MAX, |v| v.lines.saturating_sub(v.height));
                self.scroll = self
                    .scroll
                    .saturating_add_signed(direction * page as isize)
                    .min(end);
            }
            View::Activity => self.step(direction * 10),
        }
    }

    /// The selected call's index, if it can be answered now; if not, the
    /// status line says why.
    fn answerable(&mut self) -> Option<usize> {
        if self.view != View::Pending {
            self.status = "switch to the Pending view (Tab) to answer a call".to_owned();
            return None;
        }
        let Some(call) = self.selected() else {
            self.status = "no call is waiting".to_owned();
            return None;
        };
        if self.moved {
            self.status = format!(
                "the call you had selected is gone; now selected: call {} ({}); press again to answer it",
                call.id,
                call_label(call)
            );
            self.moved = false;
            return None;
        }
        if self.answering.contains_key(&call.id) {
            self.status = format!("call {} is already answered; waiting for it", call.id);
            return None;
        }
        Some(self.selected)
    }

    fn approve(&mut self, scope: Scope) -> Option<Action> {
        let index = self.answerable()?;
        self.decide(index, true, scope, None)
    }

    fn start_deny(&mut self) {
        if let Some(index) = self.answerable() {
            let id = self.pending[index].id.clone();
            self.mode = Mode::Reason {
                id,
                input: String::new(),
            };
        }
    }

    fn deny(&mut self, id: &str, reason: Option<String>) -> Option<Action> {
        let Some(index) = self.index_of(id) else {
            self.status = format!("call {id} is no longer waiting");
            return None;
        };
        if self.answering.contains_key(id) {
            self.status = format!("call {id} is already answered; waiting for it");
            return None;
        }
        self.decide(index, false, Scope::Once, reason)
    }

    /// Answers call `index`: marks it as answered and returns the decision.
    fn decide(
        &mut self,
        index: usize,
        allow: bool,
        scope: Scope,
        reason: Option<String>,
    ) -> Option<Action> {
        let call = self.pending.get(index)?;
        let decision = Decision {
            id: call.id.clone(),
            session: call.session.clone(),
            args_hash: call.args_hash.clone(),
            allow,
            scope,
            reason,
            channel: CHANNEL.to_owned(),
        };
        self.status = match (allow, scope) {
            (true, Scope::Session) => format!(
                "approving {} for the rest of this session…",
                call_label(call)
            ),
            (true, Scope::Once) => format!("approving call {} ({})…", call.id, call_label(call)),
            (false, _) => format!("denying call {} ({})…", call.id, call_label(call)),
        };
        self.answering.insert(call.id.clone(), allow);
        Some(Action::Decide(decision))
    }

    /// Draws the whole UI into `frame`, whatever its size.
    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let text = Paragraph::new("terminal too small").wrap(Wrap { trim: true });
            frame.render_widget(text, area);
            return;
        }
        let status_height = u16::from(area.height >= 8);
        let [header, body, status, footer] = area.layout(&Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(status_height),
            Constraint::Length(1),
        ]));
        self.draw_header(frame, header);
        match self.view {
            View::Pending => self.draw_pending(frame, body),
            View::Activity => self.draw_activity(frame, body),
        }
        self.draw_bottom(frame, status, footer);
        if self.mode == Mode::Help {
            self.draw_help(frame, area);
        }
    }

    fn draw_header(&self, frame: &mut Frame, area: Rect) {
        let pending = self.pending.len();
        let connected = self.connected;
        let view = match self.view {
            View::Pending => "Pending",
            View::Activity => "Activity",
        };
        let choices = [
            format!(
                " toolgate approvals │ {pending} pending │ {} connected │ {view}",
                count(connected, "process", "processes")
            ),
            format!(" toolgate │ {pending} pending │ {connected} conn │ {view}"),
            format!(" {pending} pending │ {view}"),
            format!(" {pending} pending"),
        ];
        let style = if self.colour {
            Style::new()
                .fg(Color::White)
                .bg(Color::Blue)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        };
        let text = fitting(&choices, area.width);
        frame.render_widget(Paragraph::new(text).style(style), area);
    }

    fn draw_pending(&self, frame: &mut Frame, area: Rect) {
        if self.pending.is_empty() {
            self.details.set(None);
            let empty = Paragraph::new("No calls are waiting for approval.")
                .block(self.panel(borders_for(area), " Held calls "));
            frame.render_widget(empty, area);
            return;
        }
        let borders = borders_for(area);
        let frame_rows = border_rows(borders);
        let most = if borders == Borders::ALL {
            6
        } else {
            (usize::from(area.height).saturating_sub(2) / 3).max(1)
        };
        let list_height = u16::try_from(self.pending.len().min(most))
            .unwrap_or(1)
            .saturating_add(frame_rows);
        let [list, details] = area.layout(&Layout::vertical([
            Constraint::Length(list_height),
            Constraint::Min(0),
        ]));
        self.draw_list(frame, list, borders);
        self.draw_details(frame, details, borders);
    }

    /// The held calls: tool, agent (if wide enough) and time left (unless
    /// very narrow; the details say it too).
    fn draw_list(&self, frame: &mut Frame, area: Rect, borders: Borders) {
        let columns = match area.width {
            60.. => ListColumns::All,
            40.. => ListColumns::ToolAndTime,
            _ => ListColumns::Tool,
        };
        let rows = self.pending.iter().map(|call| self.list_row(call, columns));
        let widths = match columns {
            ListColumns::All => vec![
                Constraint::Fill(3),
                Constraint::Fill(2),
                Constraint::Length(11),
            ],
            ListColumns::ToolAndTime => vec![Constraint::Fill(1), Constraint::Length(11)],
            ListColumns::Tool => vec![Constraint::Fill(1)],
        };
        let title = format!(" Held calls ({}) ", self.pending.len());
        let table = Table::new(rows, widths)
            .block(self.panel(borders, &title))
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD))
            .highlight_symbol("> ")
            .highlight_spacing(HighlightSpacing::Always);
        let mut state = TableState::default().with_selected(Some(self.selected));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn list_row(&self, call: &Held, columns: ListColumns) -> Row<'static> {
        let (when, urgent) = self.call_state(call);
        let style = if urgent {
            self.fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let tool = Span::raw(call_label(call));
        let when = Span::styled(when, style);
        match columns {
            ListColumns::All => Row::new(vec![tool, Span::raw(agent_label(&call.agent)), when]),
            ListColumns::ToolAndTime => Row::new(vec![tool, when]),
            ListColumns::Tool => Row::new(vec![tool]),
        }
    }

    /// "approving…"/"denying…" for an answered call, or its time left; and
    /// whether it is about to time out.
    fn call_state(&self, call: &Held) -> (String, bool) {
        match self.answering.get(&call.id) {
            Some(true) => ("approving…".to_owned(), false),
            Some(false) => ("denying…".to_owned(), false),
            None => {
                let left = call.deadline_ms.saturating_sub(self.now_ms);
                (time_left(left), left < 30_000)
            }
        }
    }

    fn draw_details(&self, frame: &mut Frame, area: Rect, borders: Borders) {
        let Some(call) = self.selected() else {
            return;
        };
        let title = format!(" Call {} ", printable(&call.id, false));
        let mut block = self.panel(borders, &title);
        let inner = block.inner(area);
        let lines = self.details_lines(call, usize::from(inner.width));
        let height = usize::from(inner.height);
        let total = lines.len();
        let scroll = self.scroll.min(total.saturating_sub(height));
        self.details.set(Some(Viewport {
            lines: total,
            height,
        }));
        if total > height && borders != Borders::NONE {
            let last = (scroll + height).min(total);
            let position = format!(" lines {}-{last} of {total} ", scroll + 1);
            block = block.title_top(Line::from(position).right_aligned());
        }
        let shown: Vec<Line> = lines.into_iter().skip(scroll).take(height).collect();
        frame.render_widget(Paragraph::new(shown).block(block), area);
    }

    /// The selected call's details, wrapped to `width`: who, what, which
    /// rule, how long, and the arguments as pretty JSON.
    fn details_lines(&self, call: &Held, width: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        let mut called = format!(
            "{} / {}",
            printable(&call.server, false),
            printable(&call.tool, false)
        );
        if !call.exposed.is_empty() && call.exposed != call.tool {
            called.push_str(&format!(" (called as {})", printable(&call.exposed, false)));
        }
        self.field(&mut lines, "Call", &called, width);
        self.field(&mut lines, "Agent", &agent_label(&call.agent), width);
        self.field(&mut lines, "Window", &printable(&call.window, false), width);
        self.field(&mut lines, "Session", &shortened(&call.session, 12), width);
        self.field(&mut lines, "Rule", &printable(&call.rule, false), width);
        if let Some(reason) = &call.reason {
            self.field(&mut lines, "Reason", &printable(reason, false), width);
        }
        let waited = duration(self.now_ms.saturating_sub(call.held_at_ms));
        let (state, _) = self.call_state(call);
        self.field(&mut lines, "Waiting", &format!("{waited}, {state}"), width);
        lines.push(Line::styled("Arguments", self.label_style()));
        let pretty =
            serde_json::to_string_pretty(&call.args).unwrap_or_else(|_| call.args.to_string());
        for line in printable(&pretty, true).lines() {
            let line = line.replace('\t', "    ");
            lines.extend(wrap(&line, width).into_iter().map(Line::raw));
        }
        lines
    }

    /// Adds "Label    value" to `lines`, wrapping the value under itself.
    fn field(&self, lines: &mut Vec<Line<'static>>, label: &str, value: &str, width: usize) {
        let rows = wrap(value, width.saturating_sub(LABEL_WIDTH));
        for (i, row) in rows.into_iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{label:<LABEL_WIDTH$}"), self.label_style()),
                Span::raw(row),
            ]));
        }
    }

    fn draw_activity(&self, frame: &mut Frame, area: Rect) {
        let borders = borders_for(area);
        if self.activity.is_empty() {
            let empty = Paragraph::new("No activity yet.").block(self.panel(borders, " Activity "));
            frame.render_widget(empty, area);
            return;
        }
        // Which of ACTIVITY_COLUMNS fit.
        let shown: &[usize] = match area.width {
            60.. => &[0, 1, 2, 3, 4],
            40.. => &[0, 2, 3],
            _ => &[2, 3],
        };
        let header = shown.iter().map(|&i| ACTIVITY_COLUMNS[i].0);
        let widths = shown.iter().map(|&i| ACTIVITY_COLUMNS[i].1);
        let rows = self.activity.iter().map(|entry| {
            let cells = self.activity_cells(entry);
            Row::new(shown.iter().map(|&i| cells[i].clone()))
        });
        let title = format!(" Activity ({}, times UTC) ", self.activity.len());
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(self.label_style()))
            .block(self.panel(borders, &title));
        let mut state = TableState::default().with_offset(self.activity_offset);
        frame.render_stateful_widget(table, area, &mut state);
    }

    /// One entry's cells, in the order of [`ACTIVITY_COLUMNS`].
    fn activity_cells(&self, entry: &Activity) -> [Span<'static>; 5] {
        [
            Span::raw(clock(entry.at_ms)),
            Span::raw(agent_label(&entry.agent)),
            Span::raw(format!(
                "{}/{}",
                printable(&entry.server, false),
                printable(&entry.tool, false)
            )),
            Span::styled(
                printable(&entry.outcome, false),
                self.outcome_style(&entry.outcome),
            ),
            Span::raw(printable(&entry.by, false)),
        ]
    }

    fn outcome_style(&self, outcome: &str) -> Style {
        match outcome {
            "denied" | "blocked" | "rejected" => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            "limited" | "timed out" | "cancelled" => self.fg(Color::Yellow),
            "allowed" | "approved" | "observed" => self.fg(Color::Green),
            _ => Style::new(),
        }
    }

    /// The status line (or, while typing a reason, the prompt) and the key
    /// hints; with no room for a status line the prompt takes the hints'.
    fn draw_bottom(&self, frame: &mut Frame, status: Rect, footer: Rect) {
        let hints = match (&self.mode, self.view) {
            (Mode::Reason { .. }, _) => REASON_HINTS,
            (Mode::Help, _) => HELP_HINTS,
            (Mode::Normal, View::Pending) => PENDING_HINTS,
            (Mode::Normal, View::Activity) => ACTIVITY_HINTS,
        };
        if let Mode::Reason { id, input } = &self.mode {
            let prompt_area = if status.height > 0 { status } else { footer };
            self.draw_prompt(frame, prompt_area, id, input);
            if prompt_area == footer {
                return;
            }
        } else if status.height > 0 {
            let text = Paragraph::new(printable(&self.status, false)).style(self.fg(Color::Yellow));
            frame.render_widget(text, status);
        }
        frame.render_widget(Paragraph::new(self.hint_line(hints, footer.width)), footer);
    }

    /// "Deny <call>, reason (optional): <input>" ("Reason: <input>" if
    /// narrow), showing the end of the input and the cursor after it.
    fn draw_prompt(&self, frame: &mut Frame, area: Rect, id: &str, input: &str) {
        let width = usize::from(area.width);
        let label = self
            .index_of(id)
            .map_or_else(|| printable(id, false), |i| call_label(&self.pending[i]));
        let long = format!("Deny {label}, reason (optional): ");
        let prefix = if text_width(&long) + 10 <= width {
            long
        } else {
            "Reason: ".to_owned()
        };
        let room = width.saturating_sub(text_width(&prefix) + 1);
        let value = tail(&printable(input, false), room);
        let cursor = text_width(&prefix) + text_width(&value);
        let line = Line::from(vec![
            Span::styled(prefix, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(value),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let x = area
            .x
            .saturating_add(u16::try_from(cursor).unwrap_or(u16::MAX))
            .min(area.right().saturating_sub(1));
        frame.set_cursor_position((x, area.y));
    }

    /// As many hints as fit in `width`, the most important first, shown in
    /// their usual order.
    fn hint_line(&self, hints: &[Hint], width: u16) -> Line<'static> {
        let mut by_rank: Vec<usize> = (0..hints.len()).collect();
        by_rank.sort_by_key(|&i| hints[i].rank);
        let mut keep = vec![false; hints.len()];
        let mut used = 0;
        for i in by_rank {
            let cost = text_width(hints[i].key) + 1 + text_width(hints[i].what) + 2;
            if used + cost <= usize::from(width) + 2 {
                used += cost;
                keep[i] = true;
            }
        }
        let key_style = self.fg(Color::Cyan).add_modifier(Modifier::BOLD);
        let mut spans = Vec::new();
        for (hint, _) in hints.iter().zip(&keep).filter(|(_, keep)| **keep) {
            if !spans.is_empty() {
                spans.push(Span::raw("  "));
            }
            spans.push(Span::styled(hint.key, key_style));
            spans.push(Span::raw(format!(" {}", hint.what)));
        }
        Line::from(spans)
    }

    fn draw_help(&self, frame: &mut Frame, area: Rect) {
        let key_width = KEYS
            .iter()
            .map(|(key, _)| text_width(key))
            .max()
            .unwrap_or(0);
        let lines: Vec<Line> = KEYS
            .iter()
            .map(|(key, what)| {
                let pad = " ".repeat(key_width - text_width(key) + 2);
                Line::from(vec![
                    Span::styled(format!(" {key}{pad}"), self.label_style()),
                    Span::raw(*what),
                ])
            })
            .collect();
        let widest = lines.iter().map(Line::width).max().unwrap_or(0);
        let width = u16::try_from(widest + 3)
            .unwrap_or(u16::MAX)
            .min(area.width);
        let height = u16::try_from(lines.len() + 2)
            .unwrap_or(u16::MAX)
            .min(area.height);
        let rect = area.centered(Constraint::Length(width), Constraint::Length(height));
        let help = Paragraph::new(lines).block(Block::bordered().title(" Keys (? or Esc closes) "));
        frame.render_widget(Clear, rect);
        frame.render_widget(help, rect);
    }

    /// A panel with these borders and, if it has a top border, this title.
    fn panel(&self, borders: Borders, title: &str) -> Block<'static> {
        let block = Block::new().borders(borders);
        if borders.contains(Borders::TOP) {
            block.title(Line::styled(
                title.to_owned(),
                Style::new().add_modifier(Modifier::BOLD),
            ))
        } else {
            block
        }
    }

    fn label_style(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// A foreground colour, or nothing when colour is off.
    fn fg(&self, colour: Color) -> Style {
        if self.colour {
            Style::new().fg(colour)
        } else {
            Style::new()
        }
    }
}

/// Full borders when there is room, a top rule with a title when there is
/// some, none when there is hardly any.
fn borders_for(area: Rect) -> Borders {
    if area.height >= 14 && area.width >= 50 {
        Borders::ALL
    } else if area.height >= 6 {
        Borders::TOP
    } else {
        Borders::NONE
    }
}

fn border_rows(borders: Borders) -> u16 {
    u16::from(borders.contains(Borders::TOP)) + u16::from(borders.contains(Borders::BOTTOM))
}

/// "server/tool", printable.
fn call_label(call: &Held) -> String {
    format!(
        "{}/{}",
        printable(&call.server, false),
        printable(&call.tool, false)
    )
}

/// "name version", printable.
fn agent_label(agent: &Agent) -> String {
    let label = format!("{} {}", agent.name, agent.version);
    printable(label.trim(), false)
}

/// The first `chars` characters of `text` (with "…" if cut), printable.
fn shortened(text: &str, chars: usize) -> String {
    let mut short: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        short.push('…');
    }
    printable(&short, false)
}

/// "3 held calls", "1 process".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The first choice that fits in `width` columns, or the last one.
fn fitting(choices: &[String], width: u16) -> String {
    choices
        .iter()
        .find(|choice| text_width(choice) <= usize::from(width))
        .or(choices.last())
        .cloned()
        .unwrap_or_default()
}

/// "42s", "1m05s", "2h03m" (rounded down).
fn duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

/// "1m05s left" (rounded up, so it never says 0s while time remains), or
/// "timing out".
fn time_left(ms: i64) -> String {
    if ms <= 0 {
        "timing out".to_owned()
    } else {
        format!("{} left", duration(ms.saturating_add(999)))
    }
}

/// "HH:MM:SS" (UTC) of a Unix time in milliseconds.
fn clock(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// True if [`printable`] leaves `c` as it is.
fn is_printable(c: char) -> bool {
    let mut buf = [0; 4];
    let text = c.encode_utf8(&mut buf);
    printable(text, false) == *text
}

/// Display width of `text` in terminal columns.
fn text_width(text: &str) -> usize {
    Span::raw(text).width()
}

fn char_width(c: char) -> usize {
    text_width(c.encode_utf8(&mut [0; 4]))
}

/// Splits one line into rows of at most `width` columns, breaking anywhere
/// (nothing is cut off; a character wider than `width` gets a row of its
/// own). Always at least one row.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w > width && !row.is_empty() {
            rows.push(std::mem::take(&mut row));
            used = 0;
        }
        row.push(c);
        used += w;
    }
    rows.push(row);
    rows
}

/// The end of `text` that fits in `width` columns.
fn tail(text: &str, width: usize) -> String {
    let mut used = 0;
    let mut start = text.len();
    for (i, c) in text.char_indices().rev() {
        used += char_width(c);
        if used > width {
            break;
        }
        start = i;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventState;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use serde_json::json;

    /// 2025-01-01T12:00:00Z.
    const NOW: i64 = 1_735_732_800_000;

    fn agent(name: &str) -> Agent {
        Agent {
            name: name.to_owned(),
            version: "1.2.3".to_owned(),
        }
    }

    fn held(id: &str, tool: &str, deadline_in_ms: i64) -> Held {
        Held {
            id: id.to_owned(),
            pid: 4242,
            session: "3f2a9c1e-77aa-4b2e-9d41-0c6f5e1a2b3c".to_owned(),
            agent: agent("Claude Code"),
            window: "~/src/toolgate".to_owned(),
            server: "fs".to_owned(),
            tool: tool.to_owned(),
            exposed: format!("fs_{tool}"),
            args: json!({"path": "/home/me/notes.txt", "content": "hello\nworld"}),
            args_hash: format!("hash-of-{id}"),
            rule: "fs-writes".to_owned(),
            reason: Some("writes outside the workspace".to_owned()),
            held_at_ms: NOW - 12_000,
            deadline_ms: NOW + deadline_in_ms,
        }
    }

    fn activity(at_ms: i64, tool: &str, outcome: &str) -> Activity {
        Activity {
            at_ms,
            pid: 4242,
            agent: agent("Cursor"),
            server: "git".to_owned(),
            tool: tool.to_owned(),
            outcome: outcome.to_owned(),
            by: "rule git-read".to_owned(),
        }
    }

    fn app_with(calls: &[Held]) -> App {
        let mut app = App::new(true);
        app.set_now(NOW);
        app.set_connected(3);
        for call in calls {
            app.apply(&Message::Held { call: call.clone() });
        }
        app
    }

    fn two_calls() -> App {
        app_with(&[
            held("4242-1", "write_file", 65_000),
            held("4242-2", "move_file", 200_000),
        ])
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn press(app: &mut App, c: char) -> Option<Action> {
        app.handle_key(key(KeyCode::Char(c)))
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            assert_eq!(press(app, c), None);
        }
    }

    fn render(app: &App, width: u16, height: u16) -> Buffer {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
        terminal.draw(|frame| app.draw(frame)).expect("draw");
        terminal.backend().buffer().clone()
    }

    /// The buffer as lines of text, trailing blanks trimmed.
    fn lines(buffer: &Buffer) -> Vec<String> {
        let area = buffer.area;
        (area.top()..area.bottom())
            .map(|y| {
                let line: String = (area.left()..area.right())
                    .map(|x| buffer[(x, y)].symbol())
                    .collect();
                line.trim_end().to_owned()
            })
            .collect()
    }

    fn screen(app: &App, width: u16, height: u16) -> String {
        lines(&render(app, width, height)).join("\n")
    }

    fn decision(action: Option<Action>) -> Decision {
        match action {
            Some(Action::Decide(decision)) => decision,
            other => panic!("expected a decision, got {other:?}"),
        }
    }

    #[test]
    fn pending_view_shows_the_calls_and_the_selected_ones_details() {
        let text = screen(&two_calls(), 80, 24);
        for expected in [
            "toolgate approvals",
            "2 pending",
            "3 processes connected",
            "> fs/write_file",
            "fs/move_file",
            "Claude Code 1.2.3",
            "1m05s left",
            "3m20s left",
            "fs / write_file (called as fs_write_file)",
            "~/src/toolgate",
            "3f2a9c1e-77a…",
            "fs-writes",
            "writes outside the workspace",
            "12s, 1m05s left",
            "\"path\": \"/home/me/notes.txt\"",
            "\"content\": \"hello\\nworld\"",
            "a approve",
            "d deny",
            "q quit",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
    }

    #[test]
    fn empty_states() {
        let mut app = App::new(false);
        assert!(screen(&app, 80, 24).contains("No calls are waiting for approval."));
        app.handle_key(key(KeyCode::Tab));
        assert!(screen(&app, 80, 24).contains("No activity yet."));
    }

    #[test]
    fn help_overlay_toggles() {
        let mut app = two_calls();
        assert_eq!(press(&mut app, '?'), None);
        assert_eq!(app.mode(), &Mode::Help);
        let text = screen(&app, 80, 24);
        assert!(text.contains("Keys (? or Esc closes)"), "{text}");
        assert!(text.contains("approve this tool for the rest of the agent session"));
        assert!(text.contains("deny: type a reason"));
        // Keys other than ?/Esc/q do nothing under the help.
        assert_eq!(press(&mut app, 'a'), None);
        assert_eq!(press(&mut app, '?'), None);
        assert_eq!(app.mode(), &Mode::Normal);
        assert!(!screen(&app, 80, 24).contains("Keys (? or Esc closes)"));
        // Help on a small terminal does not panic.
        press(&mut app, '?');
        let _ = screen(&app, 20, 5);
        assert_eq!(app.handle_key(key(KeyCode::Esc)), None);
        assert_eq!(app.mode(), &Mode::Normal);
    }

    #[test]
    fn small_terminals_degrade() {
        let app = two_calls();
        let text = screen(&app, 40, 12);
        for expected in [
            "2 pending",
            "> fs/write_file",
            "1m05s left",
            "a approve",
            "d deny",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        let text = screen(&app, 20, 5);
        assert!(text.contains("> fs/write_file"), "{text}");
        assert!(text.contains("a approve"), "{text}");
        assert!(screen(&app, 19, 5).contains("too small"));
        assert!(screen(&app, 12, 3).contains("small"));
        for (width, height) in [(0, 0), (1, 1), (20, 6), (30, 8), (50, 14), (200, 60)] {
            let _ = screen(&app, width, height);
        }
        let mut app = app;
        app.handle_key(key(KeyCode::Tab));
        app.apply(&Message::Activity {
            entry: activity(NOW, "status", "allowed"),
        });
        for (width, height, expected) in [
            (20, 5, "git/stat"),
            (40, 12, "git/status"),
            (80, 24, "git/status"),
        ] {
            let text = screen(&app, width, height);
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
            assert!(text.contains("allowed"), "{text}");
        }
    }

    /// True if a terminal would act on some character of `text`.
    fn unsafe_text(text: &str) -> bool {
        printable(text, false) != text
    }

    #[test]
    fn hostile_text_is_shown_escaped() {
        let evil = "x\x1b[2J\u{9b}31m\u{202e}txt\u{e0041}\x07";
        let mut call = held("4242-1\x1b]0;pwned\x07", &format!("write{evil}"), 65_000);
        call.exposed = format!("fs_{evil}");
        call.server = format!("fs{evil}");
        call.agent = agent(evil);
        call.window = format!("~/w\u{202e}in{evil}");
        call.rule = format!("r{evil}");
        call.reason = Some(format!("line1\nline2{evil}"));
        call.session = evil.to_owned();
        call.args =
            json!({ format!("k{evil}"): evil, "nested": [evil, {"deep": "\u{200b}\u{feff}"}] });
        let mut app = app_with(&[call.clone()]);
        app.apply(&Message::Activity {
            entry: Activity {
                agent: agent(evil),
                server: evil.to_owned(),
                tool: evil.to_owned(),
                outcome: evil.to_owned(),
                by: evil.to_owned(),
                ..activity(NOW, "t", "denied")
            },
        });

        let check = |app: &App| {
            for (width, height) in [(80, 24), (40, 12), (200, 50)] {
                let buffer = render(app, width, height);
                for cell in buffer.content() {
                    assert!(!unsafe_text(cell.symbol()), "cell {:?}", cell.symbol());
                }
            }
            screen(app, 200, 50)
        };
        let text = check(&app);
        assert!(
            text.contains("write x\\u{001B}[2J\\u{009B}31m\\u{202E}txt\\u{E0041}\\u{0007}")
                || text.contains("writex\\u{001B}[2J\\u{009B}31m\\u{202E}txt\\u{E0041}\\u{0007}"),
            "{text}"
        );
        // serde_json escapes C0 controls its own way; printable does the rest.
        assert!(
            text.contains("\"kx\\u001b[2J\\u{009B}31m\\u{202E}txt\\u{E0041}\\u0007\""),
            "{text}"
        );
        assert!(text.contains("\\u{200B}\\u{FEFF}"), "{text}");
        assert!(text.contains("line1\\u{000A}line2"), "{text}");

        app.handle_key(key(KeyCode::Tab));
        let text = check(&app);
        assert!(text.contains("\\u{202E}txt"), "{text}");

        // A deny prompt naming the call, and a status line from the wire.
        app.handle_key(key(KeyCode::Tab));
        press(&mut app, 'd');
        check(&app);
        app.handle_key(key(KeyCode::Esc));
        app.apply(&Message::Gone {
            id: call.id.clone(),
            outcome: evil.to_owned(),
        });
        let text = check(&app);
        assert!(text.contains("\\u{001B}]0;pwned"), "{text}");
    }

    #[test]
    fn activity_view_lists_recent_calls() {
        let mut app = two_calls();
        // 12:34:56 UTC.
        let at = NOW + (34 * 60 + 56) * 1000;
        app.apply(&Message::Activity {
            entry: activity(at, "status", "allowed"),
        });
        app.apply(&Message::Activity {
            entry: activity(at + 1000, "push", "denied"),
        });
        assert_eq!(app.handle_key(key(KeyCode::Tab)), None);
        assert_eq!(app.view(), View::Activity);
        let text = screen(&app, 80, 24);
        for expected in [
            "Activity (2, times UTC)",
            "Time",
            "Outcome",
            "12:34:56",
            "12:34:57",
            "Cursor 1.2.3",
            "git/status",
            "git/push",
            "allowed",
            "denied",
            "rule git-read",
            "Tab pending",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        // Newest first.
        assert!(text.find("git/push") < text.find("git/status"), "{text}");
        // Answering from the activity view is refused.
        assert_eq!(press(&mut app, 'a'), None);
        assert!(app.status().contains("Pending view"));
        app.handle_key(key(KeyCode::BackTab));
        assert_eq!(app.view(), View::Pending);
    }

    #[test]
    fn approve_once_binds_the_call_and_only_once() {
        let mut app = two_calls();
        let approved = decision(press(&mut app, 'a'));
        assert_eq!(
            approved,
            Decision {
                id: "4242-1".to_owned(),
                session: "3f2a9c1e-77aa-4b2e-9d41-0c6f5e1a2b3c".to_owned(),
                args_hash: "hash-of-4242-1".to_owned(),
                allow: true,
                scope: Scope::Once,
                reason: None,
                channel: "tui".to_owned(),
            }
        );
        assert!(app.status().contains("approving"), "{}", app.status());
        assert!(screen(&app, 80, 24).contains("approving…"));
        // Still listed, but not answerable again, by any key.
        assert_eq!(app.pending().len(), 2);
        assert_eq!(press(&mut app, 'a'), None);
        assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
        assert_eq!(press(&mut app, 's'), None);
        assert_eq!(press(&mut app, 'd'), None);
        assert_eq!(app.mode(), &Mode::Normal);
        assert!(app.status().contains("already answered"));
        // Gone takes it away; the next call is selected.
        app.apply(&Message::Gone {
            id: "4242-1".to_owned(),
            outcome: "approved".to_owned(),
        });
        assert_eq!(app.status(), "call 4242-1 (fs/write_file): approved");
        assert_eq!(app.selected().map(|c| c.id.as_str()), Some("4242-2"));
        // The selection moved under the person: the first key only says so.
        assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
        assert!(app.status().contains("press again"), "{}", app.status());
        let enter = decision(app.handle_key(key(KeyCode::Enter)));
        assert_eq!((enter.id.as_str(), enter.allow), ("4242-2", true));
    }

    #[test]
    fn approve_for_the_session() {
        let mut app = two_calls();
        assert_eq!(app.handle_key(key(KeyCode::Down)), None);
        let approved = decision(press(&mut app, 's'));
        assert_eq!(approved.id, "4242-2");
        assert_eq!(approved.args_hash, "hash-of-4242-2");
        assert_eq!(approved.scope, Scope::Session);
        assert!(approved.allow);
        assert_eq!(approved.channel, "tui");
        assert!(app.status().contains("rest of this session"));
    }

    #[test]
    fn deny_with_and_without_a_reason() {
        let mut app = two_calls();
        assert_eq!(press(&mut app, 'd'), None);
        assert!(matches!(app.mode(), Mode::Reason { id, .. } if id == "4242-1"));
        // Keys that mean something elsewhere are text here.
        type_text(&mut app, "not q\u{202e}\u{7} here? ok");
        app.handle_key(key(KeyCode::Backspace));
        app.handle_key(key(KeyCode::Backspace));
        assert!(
            screen(&app, 80, 24).contains("Deny fs/write_file, reason (optional): not q here?")
        );
        let denied = decision(app.handle_key(key(KeyCode::Enter)));
        assert_eq!(
            denied,
            Decision {
                id: "4242-1".to_owned(),
                session: "3f2a9c1e-77aa-4b2e-9d41-0c6f5e1a2b3c".to_owned(),
                args_hash: "hash-of-4242-1".to_owned(),
                allow: false,
                scope: Scope::Once,
                reason: Some("not q here?".to_owned()),
                channel: "tui".to_owned(),
            }
        );
        assert_eq!(app.mode(), &Mode::Normal);
        assert!(screen(&app, 80, 24).contains("denying…"));

        app.handle_key(key(KeyCode::Char('j')));
        press(&mut app, 'd');
        type_text(&mut app, "   ");
        let denied = decision(app.handle_key(key(KeyCode::Enter)));
        assert_eq!((denied.id.as_str(), denied.reason), ("4242-2", None));
    }

    #[test]
    fn esc_cancels_the_deny_prompt() {
        let mut app = two_calls();
        press(&mut app, 'd');
        type_text(&mut app, "nope");
        assert_eq!(app.handle_key(key(KeyCode::Esc)), None);
        assert_eq!(app.mode(), &Mode::Normal);
        assert_eq!(app.status(), "deny cancelled");
        // Nothing was sent, so the call can still be answered.
        assert!(decision(press(&mut app, 'a')).allow);
    }

    #[test]
    fn the_deny_prompt_closes_when_its_call_goes() {
        let mut app = two_calls();
        press(&mut app, 'd');
        app.apply(&Message::Gone {
            id: "4242-1".to_owned(),
            outcome: "timed out".to_owned(),
        });
        assert_eq!(app.mode(), &Mode::Normal);
        assert_eq!(app.status(), "call 4242-1 (fs/write_file): timed out");
    }

    #[test]
    fn no_answer_for_a_call_that_took_the_selected_ones_place() {
        let mut app = two_calls();
        app.apply(&Message::Gone {
            id: "4242-1".to_owned(),
            outcome: "timed out".to_owned(),
        });
        assert_eq!(press(&mut app, 'd'), None);
        assert_eq!(app.mode(), &Mode::Normal);
        assert!(
            app.status()
                .contains("now selected: call 4242-2 (fs/move_file)")
        );
        // Moving (even nowhere) is looking: then keys answer at once.
        app.apply(&Message::Held {
            call: held("4242-3", "mkdir", 900_000),
        });
        app.handle_key(key(KeyCode::Up));
        let denied = {
            press(&mut app, 'd');
            decision(app.handle_key(key(KeyCode::Enter)))
        };
        assert_eq!(denied.id, "4242-2");
        // A call arriving does not count as a move, nor does a first call.
        let mut app = app_with(&[]);
        app.apply(&Message::Held {
            call: held("1-1", "a", 10_000),
        });
        assert!(decision(press(&mut app, 'a')).allow);
        app.apply(&Message::Held {
            call: held("1-0", "b", 5_000),
        });
        assert_eq!(app.selected().map(|c| c.id.as_str()), Some("1-1"));
        assert_eq!(press(&mut app, 'a'), None);
        assert!(app.status().contains("already answered"));
    }

    #[test]
    fn a_refused_answer_can_be_given_again() {
        let mut app = two_calls();
        decision(press(&mut app, 'a'));
        app.apply(&Message::Answered {
            id: "4242-1".to_owned(),
            ok: false,
            message: "arguments changed".to_owned(),
        });
        assert_eq!(
            app.status(),
            "call 4242-1: answer refused: arguments changed"
        );
        assert!(decision(press(&mut app, 'a')).allow);
        app.apply(&Message::Answered {
            id: "4242-1".to_owned(),
            ok: true,
            message: "ok".to_owned(),
        });
        assert_eq!(app.status(), "call 4242-1: answer accepted");
        assert_eq!(press(&mut app, 'a'), None);
    }

    #[test]
    fn mode_and_quit_keys() {
        let mut app = two_calls();
        assert_eq!(press(&mut app, 'q'), Some(Action::Quit));
        assert_eq!(app.handle_key(ctrl('c')), Some(Action::Quit));
        // Ctrl-d scrolls; it does not deny.
        assert_eq!(app.handle_key(ctrl('d')), None);
        assert_eq!(app.mode(), &Mode::Normal);
        // Ctrl-c quits even while typing a reason; q does not.
        press(&mut app, 'd');
        assert_eq!(press(&mut app, 'q'), None);
        assert_eq!(app.handle_key(ctrl('c')), Some(Action::Quit));
        // Key releases are ignored.
        let mut app = two_calls();
        let release = KeyEvent {
            kind: KeyEventKind::Release,
            state: KeyEventState::NONE,
            ..key(KeyCode::Char('a'))
        };
        assert_eq!(app.handle_key(release), None);
        assert!(app.status().is_empty());
        app.handle_key(key(KeyCode::Tab));
        assert_eq!(app.view(), View::Activity);
        app.handle_key(key(KeyCode::Tab));
        assert_eq!(app.view(), View::Pending);
    }

    #[test]
    fn selection_moves_and_clamps() {
        let mut app = app_with(&[
            held("1-1", "a", 10_000),
            held("1-2", "b", 20_000),
            held("1-3", "c", 30_000),
        ]);
        let selected = |app: &App| app.selected().map(|c| c.tool.clone());
        app.handle_key(key(KeyCode::Up));
        assert_eq!(selected(&app).as_deref(), Some("a"));
        app.handle_key(key(KeyCode::Down));
        press(&mut app, 'j');
        press(&mut app, 'j');
        assert_eq!(selected(&app).as_deref(), Some("c"));
        press(&mut app, 'k');
        assert_eq!(selected(&app).as_deref(), Some("b"));
        app.handle_key(key(KeyCode::Home));
        assert_eq!(selected(&app).as_deref(), Some("a"));
        app.handle_key(key(KeyCode::End));
        assert_eq!(selected(&app).as_deref(), Some("c"));
    }

    #[test]
    fn arguments_scroll() {
        let mut call = held("4242-1", "write_file", 65_000);
        let lines: Vec<String> = (0..60).map(|i| format!("line {i:02}")).collect();
        call.args = json!({ "lines": lines });
        let mut app = app_with(&[call]);
        let first = screen(&app, 80, 24);
        assert!(
            first.contains("line 00") && !first.contains("line 40"),
            "{first}"
        );
        assert!(first.contains("lines 1-"), "{first}");
        app.handle_key(key(KeyCode::PageDown));
        app.handle_key(key(KeyCode::PageDown));
        press(&mut app, 'J');
        app.handle_key(ctrl('d'));
        app.handle_key(ctrl('d'));
        let end = screen(&app, 80, 24);
        assert!(end.contains("line 59") && !end.contains("line 00"), "{end}");
        // At the end, paging up is one page away at once.
        app.handle_key(key(KeyCode::PageUp));
        let up = screen(&app, 80, 24);
        assert!(!up.contains("line 59"), "{up}");
        for _ in 0..10 {
            app.handle_key(ctrl('u'));
        }
        assert!(screen(&app, 80, 24).contains("line 00"));
    }

    #[test]
    fn long_values_wrap_instead_of_being_cut() {
        let mut call = held("4242-1", "write_file", 65_000);
        let long = format!("{}END", "x".repeat(150));
        call.args = json!({ "content": long });
        let app = app_with(&[call]);
        let text = screen(&app, 80, 24);
        assert!(text.contains("xEND"), "{text}");
    }

    fn ids(app: &App) -> Vec<&str> {
        app.pending().iter().map(|c| c.id.as_str()).collect()
    }

    fn hello(pid: u32, held: Vec<Held>, recent: Vec<Activity>) -> Message {
        Message::Hello {
            pid,
            session: "s".to_owned(),
            agent: agent("Claude Code"),
            window: "~/w".to_owned(),
            held,
            recent,
        }
    }

    #[test]
    fn apply_keeps_deadline_order_and_the_selection() {
        let mut app = App::new(true);
        app.set_now(NOW);
        let mut other = held("7-1", "read", 50_000);
        other.pid = 7;
        app.apply(&hello(
            4242,
            vec![held("4242-2", "b", 90_000), held("4242-1", "a", 30_000)],
            vec![
                activity(NOW - 5000, "old", "allowed"),
                activity(NOW - 1000, "new", "denied"),
            ],
        ));
        app.apply(&hello(7, vec![other], vec![]));
        assert_eq!(ids(&app), ["4242-1", "7-1", "4242-2"]);
        assert_eq!(app.activity()[0].tool, "new");

        // Select 7-1; an earlier call arriving does not move the selection.
        app.handle_key(key(KeyCode::Down));
        assert_eq!(app.selected().map(|c| c.id.as_str()), Some("7-1"));
        app.apply(&Message::Held {
            call: held("4242-3", "c", 1_000),
        });
        assert_eq!(ids(&app), ["4242-3", "4242-1", "7-1", "4242-2"]);
        assert_eq!(app.selected().map(|c| c.id.as_str()), Some("7-1"));

        // Another call going leaves it selected too.
        app.apply(&Message::Gone {
            id: "4242-1".to_owned(),
            outcome: "timed out".to_owned(),
        });
        assert_eq!(app.selected().map(|c| c.id.as_str()), Some("7-1"));
        assert_eq!(app.status(), "call 4242-1 (fs/a): timed out");

        // A Hello again (reconnect) replaces that process's calls.
        app.apply(&hello(
            4242,
            vec![held("4242-2", "b", 90_000)],
            vec![activity(NOW - 1000, "new", "denied")],
        ));
        assert_eq!(ids(&app), ["7-1", "4242-2"]);
        assert_eq!(app.activity().len(), 2, "no duplicate activity");
        assert_eq!(app.selected().map(|c| c.id.as_str()), Some("7-1"));

        // The selected call's process going selects what takes its place.
        app.forget_process(7);
        assert_eq!(ids(&app), ["4242-2"]);
        assert_eq!(app.selected().map(|c| c.id.as_str()), Some("4242-2"));
        assert!(
            app.status().contains("process 7 went away"),
            "{}",
            app.status()
        );
        app.forget_process(4242);
        assert!(app.pending().is_empty());
        assert_eq!(app.selected(), None);
        assert_eq!(press(&mut app, 'a'), None);
    }

    #[test]
    fn activity_is_newest_first_and_bounded() {
        let mut app = App::new(true);
        for i in 0..(ACTIVITY_CAP as i64 + 50) {
            app.apply(&Message::Activity {
                entry: activity(NOW + i, &format!("t{i}"), "allowed"),
            });
        }
        assert_eq!(app.activity().len(), ACTIVITY_CAP);
        assert_eq!(app.activity()[0].tool, format!("t{}", ACTIVITY_CAP + 49));
    }

    #[test]
    fn no_colour_means_no_colour() {
        let mut app = two_calls();
        app.colour = false;
        app.apply(&Message::Activity {
            entry: activity(NOW, "push", "denied"),
        });
        let mut call = held("4242-9", "soon", 5_000);
        call.deadline_ms = NOW + 5_000;
        app.apply(&Message::Held { call });
        app.set_status("something happened");
        let assert_plain = |app: &App| {
            for (width, height) in [(80, 24), (40, 12), (20, 5)] {
                for cell in render(app, width, height).content() {
                    assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
                }
            }
        };
        assert_plain(&app);
        press(&mut app, 'd');
        assert_plain(&app);
        app.handle_key(key(KeyCode::Esc));
        press(&mut app, '?');
        assert_plain(&app);
        press(&mut app, '?');
        app.handle_key(key(KeyCode::Tab));
        assert_plain(&app);
        // And the selection is still marked without colour.
        app.handle_key(key(KeyCode::Tab));
        let buffer = render(&app, 80, 24);
        assert!(lines(&buffer).iter().any(|l| l.contains("> fs/write_file")));
        assert!(
            buffer
                .content()
                .iter()
                .any(|c| c.modifier.contains(Modifier::REVERSED))
        );

        // With colour on, there is some.
        app.colour = true;
        let buffer = render(&app, 80, 24);
        assert!(buffer.content().iter().any(|c| c.fg != Color::Reset));
    }

    #[test]
    fn times() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59_999), "59s");
        assert_eq!(duration(65_000), "1m05s");
        assert_eq!(duration(3_723_000), "1h02m");
        assert_eq!(duration(-5), "0s");
        assert_eq!(time_left(65_000), "1m05s left");
        assert_eq!(time_left(64_001), "1m05s left");
        assert_eq!(time_left(1), "1s left");
        assert_eq!(time_left(0), "timing out");
        assert_eq!(clock(NOW + (34 * 60 + 56) * 1000 + 999), "12:34:56");
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(-1000), "23:59:59");
    }

    #[test]
    fn wrapping_and_tails() {
        assert_eq!(wrap("abcdef", 4), ["abcd", "ef"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("漢字漢", 4), ["漢字", "漢"]);
        assert_eq!(wrap("ab", 0), ["a", "b"]);
        assert_eq!(tail("hello world", 5), "world");
        assert_eq!(tail("漢字漢", 3), "漢");
        assert_eq!(shortened("abcdef", 3), "abc…");
        assert_eq!(shortened("abc", 3), "abc");
    }
}
