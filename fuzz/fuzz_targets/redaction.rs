//! The redaction engine: the guardrails (`policy::guard`), built-in and
//! org rules, over arbitrary JSON and text, both directions; the redaction
//! of held calls' arguments for display and audit
//! (`approve::redact_for_display`); and the terminal escaping of what is
//! shown (`approve::printable`).
//!
//! Input: a `[policy.guardrails]` TOML text, a NUL byte, then the content
//! (JSON; other text is scanned as one string). Without a NUL the whole
//! input is the content, scanned by the built-in rules.
//!
//! Checked: nothing panics; redaction only ever changes strings (the shape
//! of the JSON, its keys and its other values stay as they were) and the
//! result is valid JSON; printable text has no control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use toolgate::policy::guard::{Direction, Guard, GuardConfig};

fn builtin() -> &'static Guard {
    static G: std::sync::OnceLock<Guard> = std::sync::OnceLock::new();
    G.get_or_init(|| {
        let cfg: GuardConfig = toml::from_str(
            "[actions]\nsecret = { arguments = \"redact\", results = \"redact\" }\n\
             pii = { results = \"redact\" }\ninjection = { results = \"redact\" }\n",
        )
        .expect("a guard config");
        Guard::new(&cfg).expect("the built-in rules compile")
    })
}

/// Same shape, same keys in the same order, same non-string values.
fn same_shape(before: &Value, after: &Value) -> bool {
    match (before, after) {
        (Value::String(_), Value::String(_)) => true,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_shape(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_shape(va, vb))
        }
        (a, b) => a == b,
    }
}

fn scan(g: &Guard, content: &Value) {
    for dir in [Direction::Arguments, Direction::Results] {
        let mut v = content.clone();
        let findings = g.scan(&mut v, dir, "server", "tool");
        assert!(
            same_shape(content, &v),
            "redaction changed more than strings: {v}"
        );
        let text = serde_json::to_string(&v).expect("serialises");
        let back: Value = serde_json::from_str(&text).expect("redacted JSON parses");
        assert_eq!(back, v);
        for f in &findings {
            let _ = serde_json::to_string(f);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (cfg, content) = match data.iter().position(|&b| b == 0) {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let text = String::from_utf8_lossy(content);
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone().into_owned()));

    scan(builtin(), &value);

    let mut shown = value.clone();
    toolgate::approve::redact_for_display(&mut shown, "server", "tool");
    assert!(
        same_shape(&value, &shown),
        "display redaction changed more than strings"
    );

    for multiline in [false, true] {
        let p = toolgate::approve::printable(&text, multiline);
        assert!(
            !p.chars()
                .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t'))),
            "printable left a control character: {p:?}"
        );
    }

    if let Some(cfg) = cfg.and_then(|c| std::str::from_utf8(c).ok()) {
        with_guard(cfg, |g| {
            let _ = g.active(Direction::Arguments);
            scan(g, &value);
        });
    }
});

/// The org's guardrails of `text`, compiled (the last ones are kept: most
/// mutations change the content, and compiling the built-in rules is most
/// of an input's time).
fn with_guard(text: &str, f: impl FnOnce(&Guard)) {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, Option<Guard>)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.as_ref().is_none_or(|(t, _)| t != text) {
            let guard = toml::from_str::<GuardConfig>(text)
                .ok()
                .and_then(|cfg| Guard::new(&cfg).ok());
            *last = Some((text.to_owned(), guard));
        }
        if let Some((_, Some(g))) = last.as_ref() {
            f(g);
        }
    });
}
