//! Errors a person reads.
//!
//! Every error names what failed and why, and ends with a `hint:` line:
//! what to do about it, where there is something specific, else a generic
//! pointer to `toolgate doctor` (see [`render`]). [`UserError`] carries the
//! hint and the exit code through `anyhow` chains.

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

/// The hint of an error that carries none of its own, by exit code.
pub const GENERIC_HINT: &str =
    "run `toolgate doctor` to check the setup; TOOLGATE_LOG=debug shows more";
/// The hint of a usage or configuration error that carries none of its own.
pub const GENERIC_USAGE_HINT: &str =
    "`toolgate help COMMAND` shows the usage, with examples; `toolgate doctor` checks the config";

/// Renders an error chain for stderr: `error: ...`, its causes, then the
/// hint. Every error ends with a `hint:` line: the first one a [`UserError`]
/// in the chain carries, else a generic one.
pub fn render(err: &anyhow::Error) -> (String, u8) {
    let mut out = format!("error: {err}");
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(&format!("\n  caused by: {text}"));
        }
    }
    let users = || err.chain().filter_map(|e| e.downcast_ref::<UserError>());
    let code = users().next().map_or(exit::PROBLEM, |u| u.exit_code);
    let hint = users()
        .find_map(|u| u.hint.as_deref())
        .unwrap_or(if code == exit::USAGE {
            GENERIC_USAGE_HINT
        } else {
            GENERIC_HINT
        });
    out.push_str(&format!("\nhint: {hint}"));
    (out, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_of_its_own_ends_the_error() {
        let err: anyhow::Error = UserError::new("no server named \"x\"")
            .hint("`toolgate servers` lists them")
            .into();
        let (text, code) = render(&err);
        assert_eq!(
            text,
            "error: no server named \"x\"\nhint: `toolgate servers` lists them"
        );
        assert_eq!(code, exit::USAGE);
    }

    #[test]
    fn an_error_without_a_hint_gets_a_generic_one() {
        let err = anyhow::anyhow!("disk on fire");
        let (text, code) = render(&err);
        assert_eq!(text, format!("error: disk on fire\nhint: {GENERIC_HINT}"));
        assert_eq!(code, exit::PROBLEM);

        let err: anyhow::Error = UserError::new("bad flag").into();
        let (text, code) = render(&err);
        assert!(
            text.ends_with(&format!("\nhint: {GENERIC_USAGE_HINT}")),
            "{text}"
        );
        assert_eq!(code, exit::USAGE);

        let err: anyhow::Error = UserError::problem("it broke").into();
        let (text, code) = render(&err);
        assert!(text.ends_with(&format!("\nhint: {GENERIC_HINT}")), "{text}");
        assert_eq!(code, exit::PROBLEM);
    }

    #[test]
    fn the_hint_is_found_anywhere_in_the_chain_and_comes_last() {
        let inner: anyhow::Error = UserError::problem("the keychain is locked")
            .hint("unlock it")
            .into();
        let err = inner.context("could not read the secret");
        let (text, code) = render(&err);
        assert_eq!(
            text,
            "error: could not read the secret\n  caused by: the keychain is locked\nhint: unlock it"
        );
        assert_eq!(code, exit::PROBLEM);
        assert_eq!(text.matches("hint:").count(), 1, "{text}");
    }
}
