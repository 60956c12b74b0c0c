//! A spinner on stderr for what can take more than a second: a login's wait
//! for the browser, a profile pull or pin, doctor's upstream checks.
//!
//! It draws only where a person watches: stderr is a terminal and `TERM` is
//! not `dumb`. Anywhere else (a pipe, a file, a CI log) it writes nothing at
//! all, not even a newline. `NO_COLOR` does not stop it, as it has no
//! colour. It first draws once the operation has run for [`DELAY`], so that
//! fast operations never flash, then redraws every [`TICK`] with the seconds
//! elapsed. [`Spinner::finish`], or dropping it (an early return, an error),
//! clears its line. Text for people printed meanwhile goes through
//! [`Spinner::say`], and other writers to stderr (the log) through
//! [`stderr`], so that nothing lands in the middle of the spinner's line.
//!
//! ```no_run
//! let spinner = toolgate::progress::Spinner::start("Pulling the profile");
//! // ... the slow part ...
//! spinner.finish();
//! ```

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an operation runs before the spinner first draws.
pub const DELAY: Duration = Duration::from_millis(300);
/// How often it redraws.
pub const TICK: Duration = Duration::from_millis(100);

const UNICODE_FRAMES: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const ASCII_FRAMES: &[&str] = &["-", "\\", "|", "/"];
/// Back to the start of the line, and erase it.
const CLEAR: &str = "\r\x1b[2K";

/// The spinner showing now, if any: [`stderr`] clears its line.
static ACTIVE: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

/// Whether a spinner may animate: on a terminal that is not `dumb`.
pub fn animate(stderr_is_terminal: bool, term: Option<&str>) -> bool {
    stderr_is_terminal && term != Some("dumb")
}

/// Whether the locale says the terminal shows UTF-8 (the first of
/// `LC_ALL`, `LC_CTYPE`, `LANG` that is set decides).
fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}

/// A spinner with a message, drawn on stderr by a thread of its own while
/// it lives (see the module's documentation for when it draws at all).
pub struct Spinner {
    inner: Option<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    message: String,
    done: bool,
    /// A spinner line is on the screen now.
    drawn: bool,
    frame: usize,
    frames: &'static [&'static str],
    started: Instant,
    sink: Box<dyn Write + Send>,
    /// The terminal's width, where known (the line is cut to fit: a line
    /// that wraps could not be erased).
    width: fn() -> Option<usize>,
}

fn terminal_width() -> Option<usize> {
    crossterm::terminal::size()
        .ok()
        .map(|(cols, _)| usize::from(cols))
        .filter(|&c| c > 0)
}

impl Spinner {
    /// Starts a spinner showing `message` (such as "Pulling the profile").
    /// Where it may not animate, it does nothing, and starts no thread.
    pub fn start(message: impl Into<String>) -> Self {
        let term = std::env::var("TERM").ok();
        if !animate(std::io::stderr().is_terminal(), term.as_deref()) {
            return Self { inner: None };
        }
        let frames = if utf8_locale() {
            UNICODE_FRAMES
        } else {
            ASCII_FRAMES
        };
        Self::with_sink(
            message.into(),
            Box::new(std::io::stderr()),
            frames,
            terminal_width,
            DELAY,
            TICK,
        )
    }

    /// A spinner that will never draw.
    pub fn hidden() -> Self {
        Self { inner: None }
    }

    fn with_sink(
        message: String,
        sink: Box<dyn Write + Send>,
        frames: &'static [&'static str],
        width: fn() -> Option<usize>,
        delay: Duration,
        tick: Duration,
    ) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                message,
                done: false,
                drawn: false,
                frame: 0,
                frames,
                started: Instant::now(),
                sink,
                width,
            }),
            wake: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("toolgate-spinner".into())
            .spawn({
                let shared = shared.clone();
                move || spin(&shared, delay, tick)
            })
            .ok();
        if thread.is_some() {
            *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(shared.clone());
        }
        // Without a thread (none could be made) the spinner just never draws.
        Self {
            inner: thread.map(|t| Inner {
                shared,
                thread: Some(t),
            }),
        }
    }

    /// Whether this spinner draws at all.
    pub fn is_visible(&self) -> bool {
        self.inner.is_some()
    }

    /// Replaces the message (drawn at once, if the spinner is showing).
    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(inner) = &self.inner {
            let mut state = lock(&inner.shared);
            state.message = message.into();
            drop(state);
            inner.shared.wake.notify_all();
        }
    }

    /// Writes a line for people to stderr: above the spinner, which the
    /// next tick draws again under it.
    pub fn say(&self, text: &str) {
        match &self.inner {
            Some(inner) => {
                let mut state = lock(&inner.shared);
                let state = &mut *state;
                if state.drawn {
                    let _ = state.sink.write_all(CLEAR.as_bytes());
                    state.drawn = false;
                }
                let _ = writeln!(state.sink, "{text}");
                let _ = state.sink.flush();
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    /// Stops the spinner and clears its line.
    pub fn finish(self) {
        drop(self);
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        let Some(inner) = &mut self.inner else {
            return;
        };
        {
            let mut state = lock(&inner.shared);
            state.done = true;
            if state.drawn {
                let _ = state.sink.write_all(CLEAR.as_bytes());
                let _ = state.sink.flush();
                state.drawn = false;
            }
        }
        inner.shared.wake.notify_all();
        if let Some(t) = inner.thread.take() {
            let _ = t.join();
        }
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        if active
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, &inner.shared))
        {
            *active = None;
        }
    }
}

/// stderr, for whatever else writes there while a spinner may show (the
/// log's writer: `.with_writer(toolgate::progress::stderr)`): the
/// spinner's line is cleared first, and drawn again under what was
/// written at the next tick.
pub fn stderr() -> Stderr {
    Stderr
}

/// See [`stderr()`].
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(shared) = active else {
            return std::io::stderr().write(buf);
        };
        let mut state = lock(&shared);
        if state.done {
            drop(state);
            return std::io::stderr().write(buf);
        }
        if state.drawn {
            state.sink.write_all(CLEAR.as_bytes())?;
            state.drawn = false;
        }
        let n = state.sink.write(buf)?;
        state.sink.flush()?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The spinner's thread: waits out `delay`, then draws every `tick` (and
/// at once when the message changes) until done.
fn spin(shared: &Shared, delay: Duration, tick: Duration) {
    let mut state = lock(shared);
    let first = state.started + delay;
    loop {
        if state.done {
            return;
        }
        let now = Instant::now();
        let next = if now < first {
            first
        } else {
            draw(&mut state);
            now + tick
        };
        let wait = next.saturating_duration_since(Instant::now());
        state = shared
            .wake
            .wait_timeout(state, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

fn draw(state: &mut State) {
    let frame = state.frames[state.frame % state.frames.len()];
    state.frame = state.frame.wrapping_add(1);
    let secs = state.started.elapsed().as_secs();
    let mut line = format!("{frame} {}", state.message);
    if secs > 0 {
        line.push_str(&format!(" ({secs}s)"));
    }
    // Control characters in a message would move the cursor.
    let mut line: String = line.chars().filter(|c| !c.is_control()).collect();
    if let Some(width) = (state.width)() {
        // One column spare: writing the last one wraps on some terminals.
        if let Some((cut, _)) = line.char_indices().nth(width.saturating_sub(1)) {
            line.truncate(cut);
        }
    }
    let _ = write!(state.sink, "{CLEAR}{line}");
    let _ = state.sink.flush();
    state.drawn = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }

        /// Waits (a busy machine may be slow to run the spinner's thread)
        /// until `needle` has been written.
        fn wait_for(&self, needle: &str) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.text().contains(needle) {
                assert!(
                    Instant::now() < deadline,
                    "{needle:?} never came: {:?}",
                    self.text()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// The spinners of these tests run one at a time: [`ACTIVE`] is global.
    fn serial() -> MutexGuard<'static, ()> {
        static SERIAL: Mutex<()> = Mutex::new(());
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spinner(
        message: &str,
        delay: Duration,
        width: fn() -> Option<usize>,
    ) -> (Spinner, Captured) {
        let sink = Captured::default();
        let s = Spinner::with_sink(
            message.into(),
            Box::new(sink.clone()),
            ASCII_FRAMES,
            width,
            delay,
            Duration::from_millis(10),
        );
        (s, sink)
    }

    #[test]
    fn animates_only_on_a_terminal_that_is_not_dumb() {
        assert!(animate(true, Some("xterm-256color")));
        assert!(animate(true, None));
        assert!(!animate(true, Some("dumb")));
        assert!(!animate(false, Some("xterm-256color")));
        assert!(!animate(false, None));
    }

    #[test]
    fn a_fast_operation_never_draws() {
        let _serial = serial();
        let (s, sink) = spinner("quick", Duration::from_secs(5), || None);
        std::thread::sleep(Duration::from_millis(50));
        s.finish();
        assert_eq!(sink.text(), "");
    }

    #[test]
    fn a_slow_operation_draws_then_clears_its_line() {
        let _serial = serial();
        let (s, sink) = spinner("Pulling the profile", Duration::ZERO, || None);
        sink.wait_for("Pulling the profile");
        s.set_message("Verifying");
        sink.wait_for("Verifying");
        s.finish();
        let text = sink.text();
        assert!(text.starts_with(CLEAR), "{text:?}");
        assert!(text.contains("Pulling the profile"), "{text:?}");
        assert!(text.contains("Verifying"), "{text:?}");
        assert!(text.ends_with(CLEAR), "the line is cleared: {text:?}");
        assert!(!text.contains('\n'), "{text:?}");
    }

    #[test]
    fn drop_clears_too() {
        let _serial = serial();
        let (s, sink) = spinner("x", Duration::ZERO, || None);
        sink.wait_for("x");
        drop(s);
        assert!(sink.text().ends_with(CLEAR), "{:?}", sink.text());
    }

    #[test]
    fn say_prints_above_the_spinner() {
        let _serial = serial();
        let (s, sink) = spinner("Waiting", Duration::ZERO, || None);
        sink.wait_for("Waiting");
        s.say("Open this URL:\n  https://example.com/");
        let after = sink.text().len();
        // Drawn again under it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sink.text()[after..].contains("Waiting") {
            assert!(Instant::now() < deadline, "{:?}", sink.text());
            std::thread::sleep(Duration::from_millis(5));
        }
        s.finish();
        let text = sink.text();
        assert!(
            text.contains(&format!("{CLEAR}Open this URL:\n  https://example.com/\n")),
            "{text:?}"
        );
    }

    #[test]
    fn the_line_fits_the_terminal_and_holds_no_control_characters() {
        let _serial = serial();
        let (s, sink) = spinner("a\x1b[31m long message\r", Duration::ZERO, || Some(10));
        sink.wait_for("- a[31m");
        s.finish();
        let text = sink.text();
        for line in text.split(CLEAR).filter(|l| !l.is_empty()) {
            assert!(line.chars().count() <= 9, "{line:?}");
            assert!(!line.chars().any(char::is_control), "{line:?}");
        }
    }

    #[test]
    fn other_writers_clear_the_line_first() {
        let _serial = serial();
        let (s, sink) = spinner("Pulling", Duration::ZERO, || None);
        sink.wait_for("Pulling");
        stderr().write_all(b"WARN something\n").unwrap();
        let text = sink.text();
        assert!(
            text.ends_with(&format!("Pulling{CLEAR}WARN something\n")),
            "{text:?}"
        );
        s.finish();
        // No spinner: nothing to clear (written to the real stderr).
        assert!(ACTIVE.lock().unwrap().is_none());
    }

    #[test]
    fn a_hidden_spinner_is_silent() {
        let _serial = serial();
        let s = Spinner::hidden();
        assert!(!s.is_visible());
        s.set_message("nothing");
        s.finish();
    }
}
