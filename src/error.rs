//! Errors a person reads.
//!
//! Every error names what failed and why; where there is something to do,
//! it ends with a `hint:` line. [`UserError`] carries that hint and the exit
//! code through `anyhow` chains.

use std::fmt;

/// Exit codes of every command.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The command ran and found a problem (a failed call, a broken check).
    pub const PROBLEM: u8 = 1;
    /// Usage or configuration error.
    pub const USAGE: u8 = 2;
}

/// An error with a sentence for people, an optional hint, and an exit code.
#[derive(Debug, Clone)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
    pub exit_code: u8,
}

impl UserError {
    /// A configuration or usage error (exit code 2).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            exit_code: exit::USAGE,
        }
    }

    /// A problem found while running (exit code 1).
    pub fn problem(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            exit_code: exit::PROBLEM,
        }
    }

    /// Adds a `hint:` line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Renders an error chain for stderr: `error: ...`, its causes, then the hint.
pub fn render(err: &anyhow::Error) -> (String, u8) {
    let mut out = format!("error: {err}");
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(&format!("\n  caused by: {text}"));
        }
    }
    let user = err.chain().find_map(|e| e.downcast_ref::<UserError>());
    if let Some(hint) = user.and_then(|u| u.hint.as_deref()) {
        out.push_str(&format!("\nhint: {hint}"));
    }
    (out, user.map_or(exit::PROBLEM, |u| u.exit_code))
}
