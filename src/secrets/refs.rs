//! `${secret:NAME}` references in config values, and the check that refuses
//! plain secrets in `config.toml`.
//!
//! A stdio upstream's `env` values and a remote upstream's `headers` values
//! may contain references, resolved from the keychain each time toolgate
//! connects:
//!
//! - `${secret:NAME}`: the secret NAME of the server whose entry holds the
//!   reference (set with `toolgate secret set SERVER NAME`);
//! - `${secret:SCOPE/NAME}`: the secret NAME of another scope (another
//!   server, or a scope such as `audit`);
//! - `$${` is a literal `${`.
//!
//! A value may mix text and references (`Bearer ${secret:TOKEN}`). Names and
//! scopes use letters, digits, `_`, `-` and `.` (up to 64).

use std::fmt;

use super::Secret;

/// One reference: a scope and a name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    pub scope: String,
    pub name: String,
}

impl SecretRef {
    /// The keychain account of this secret.
    pub fn account(&self) -> String {
        account(&self.scope, &self.name)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.scope, self.name)
    }
}

/// The keychain account of the secret `scope/name`.
pub fn account(scope: &str, name: &str) -> String {
    format!("secret:{scope}/{name}")
}

/// Whether `s` is a valid secret name or scope.
pub fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A piece of a parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Ref(SecretRef),
}

/// A config value with its references parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

const OPEN: &str = "${secret:";

impl Template {
    /// Parses a value; `scope` is the default scope (the server's name).
    /// Errors say what is wrong, never echo the value.
    pub fn parse(value: &str, scope: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = value;
        while let Some(at) = rest.find('$') {
            text.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                text.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix(OPEN) {
                let end = after.find('}').ok_or_else(|| {
                    "a ${secret:...} reference is not closed with '}'".to_string()
                })?;
                let inner = &after[..end];
                let (sc, name) = match inner.split_once('/') {
                    Some((sc, name)) => (sc, name),
                    None => (scope, inner),
                };
                if !valid_part(sc) || !valid_part(name) {
                    return Err(format!(
                        "\"${{secret:{inner}}}\" is not a valid reference: use ${{secret:NAME}} or ${{secret:SCOPE/NAME}}, with letters, digits, '_', '-' or '.'"
                    ));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Ref(SecretRef {
                    scope: sc.to_string(),
                    name: name.to_string(),
                }));
                rest = &after[end + 1..];
            } else {
                text.push('$');
                rest = &tail[1..];
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self { pieces })
    }

    /// The references, in order.
    pub fn refs(&self) -> impl Iterator<Item = &SecretRef> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Ref(r) => Some(r),
            Piece::Text(_) => None,
        })
    }

    /// Whether the value holds any reference.
    pub fn has_refs(&self) -> bool {
        self.refs().next().is_some()
    }

    /// The value's literal text (references left out), for the plain-secret
    /// check.
    pub fn literal_text(&self) -> String {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t.as_str()),
                Piece::Ref(_) => None,
            })
            .collect()
    }

    /// Builds the value, asking `lookup` for each reference.
    pub fn resolve<E>(
        &self,
        mut lookup: impl FnMut(&SecretRef) -> Result<Secret, E>,
    ) -> Result<Secret, E> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Ref(r) => out.push_str(lookup(r)?.expose()),
            }
        }
        let secret = Secret::new(out.clone());
        zeroize::Zeroize::zeroize(&mut out);
        Ok(secret)
    }
}

/// Environment variable names that hold secrets by convention.
const SECRET_WORDS: [&str; 9] = [
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

/// Suffixes of names that point at a secret rather than hold one.
const POINTER_SUFFIXES: [&str; 6] = ["_FILE", "_PATH", "_URL", "_DIR", "_ENDPOINT", "_HOST"];

/// Headers that carry credentials.
const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
];

/// Prefixes of well-known token formats.
const TOKEN_PREFIXES: [&str; 12] = [
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "sk-",
    "AKIA",
    "AIza",
];

/// Whether a literal value looks like a token by its shape alone.
pub fn looks_like_token(value: &str) -> bool {
    let v = value.trim();
    let v = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .unwrap_or(v);
    TOKEN_PREFIXES
        .iter()
        .any(|p| v.starts_with(p) && v.len() >= p.len() + 16)
}

/// Whether a value could be a credential at all: 8 or more characters
/// without spaces, and not a path, a URL, a number, a boolean or an
/// upper-case identifier (`FOO_TOKEN = "MY_OTHER_VAR"` names a variable).
fn could_be_credential(value: &str) -> bool {
    let v = value.trim();
    v.len() >= 8
        && !v.contains(char::is_whitespace)
        && !v.starts_with(['/', '~', '.', '$'])
        && !v.contains("://")
        && v.parse::<f64>().is_err()
        && !matches!(v, "true" | "false")
        && !v
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether an environment variable of this name, with this literal text,
/// holds a plain secret.
pub fn env_is_plain_secret(name: &str, literal: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let named = SECRET_WORDS.iter().any(|w| upper.contains(w))
        && !POINTER_SUFFIXES.iter().any(|s| upper.ends_with(s));
    (named && could_be_credential(literal)) || looks_like_token(literal)
}

/// Whether a header of this name, with this literal text, holds a plain
/// secret. `Authorization: Bearer ${secret:T}` has the literal `Bearer `,
/// which is fine.
pub fn header_is_plain_secret(name: &str, literal: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let literal = literal.trim();
    let scheme_only = matches!(
        literal.to_ascii_lowercase().as_str(),
        "" | "bearer" | "basic" | "token"
    );
    // Credentials headers hold nothing else: any literal beyond the scheme.
    let credentials = SECRET_HEADERS.contains(&lower.as_str()) && !scheme_only;
    let named = (lower.contains("token")
        || lower.contains("secret")
        || lower.contains("api-key")
        || lower.contains("apikey"))
        && could_be_credential(literal);
    credentials || named || looks_like_token(literal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(scope: &str, name: &str) -> SecretRef {
        SecretRef {
            scope: scope.into(),
            name: name.into(),
        }
    }

    #[test]
    fn parses_references() {
        let t = Template::parse("Bearer ${secret:TOKEN}", "gh").unwrap();
        assert_eq!(
            t.refs().cloned().collect::<Vec<_>>(),
            vec![r("gh", "TOKEN")]
        );
        assert_eq!(t.literal_text(), "Bearer ");
        let t = Template::parse("${secret:audit/KEY}-${secret:X}", "s").unwrap();
        assert_eq!(
            t.refs().cloned().collect::<Vec<_>>(),
            vec![r("audit", "KEY"), r("s", "X")]
        );
        let t = Template::parse("cost $5 and $${secret:NOT}", "s").unwrap();
        assert!(!t.has_refs());
        assert_eq!(t.literal_text(), "cost $5 and ${secret:NOT}");
    }

    #[test]
    fn rejects_bad_references() {
        assert!(Template::parse("${secret:OPEN", "s").is_err());
        assert!(Template::parse("${secret:}", "s").is_err());
        assert!(Template::parse("${secret:a/b/c}", "s").is_err());
        assert!(Template::parse("${secret:has space}", "s").is_err());
    }

    #[test]
    fn resolves() {
        let t = Template::parse("Bearer ${secret:T}!", "s").unwrap();
        let v = t
            .resolve(|r| -> Result<Secret, ()> {
                assert_eq!(
                    r,
                    &SecretRef {
                        scope: "s".into(),
                        name: "T".into()
                    }
                );
                Ok(Secret::new("abc"))
            })
            .unwrap();
        assert_eq!(v.expose(), "Bearer abc!");
        let missing = t.resolve(|_| Err("missing"));
        assert_eq!(missing.unwrap_err(), "missing");
    }

    #[test]
    fn spots_plain_secrets() {
        assert!(env_is_plain_secret("BRAVE_API_KEY", "BSAx9f3kq2Lr"));
        assert!(env_is_plain_secret("GITHUB_TOKEN", "0123456789abcdef"));
        assert!(!env_is_plain_secret("TOKEN_VAR", "MY_API_TOKEN"));
        assert!(!env_is_plain_secret("SECRET_STORE", "/var/run/secrets"));
        assert!(!env_is_plain_secret("API_KEY_ENABLED", "true"));
        assert!(!env_is_plain_secret("GITHUB_TOKEN", ""));
        assert!(!env_is_plain_secret("TOKEN_FILE", "/run/token"));
        assert!(!env_is_plain_secret("LOG_LEVEL", "debug"));
        assert!(env_is_plain_secret("WHATEVER", "ghp_0123456789abcdef0123"));
        assert!(header_is_plain_secret("Authorization", "Bearer abc"));
        assert!(!header_is_plain_secret("Authorization", "Bearer "));
        assert!(!header_is_plain_secret("X-Team", "platform"));
        assert!(header_is_plain_secret(
            "X-Whatever",
            "sk-0123456789abcdef0123"
        ));
    }
}
