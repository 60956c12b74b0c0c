//! Exposed names: how an upstream's tool or prompt is named to the IDE.
//!
//! A tool `echo` of server `everything` is exposed as `everything__echo` (the
//! server's `prefix` replaces `everything`; an empty prefix exposes `echo`).
//! Every exposed name matches `^[a-zA-Z0-9_-]{1,64}$`, the strictest rule
//! clients enforce, and is at most `max_name_length` long (default 48, leaving
//! room for clients that prefix names again, such as Claude Code's
//! `mcp__toolgate__`).
//!
//! Where a name has other characters or is too long, it is sanitised (other
//! characters become `_`), cut, and given a suffix `-` + 8 hex digits of the
//! SHA-256 of `server \0 original name`: stable across runs and machines, and
//! unique. When two upstream tools would still get one name (an unprefixed
//! server's `a__b` against server `a`'s `b`), both get the hashed form: no
//! upstream can shadow another. The mapping back to (server, original name)
//! is kept exactly in [`NameTable`]; it is never re-derived by parsing.

use std::{collections::HashMap, sync::Arc};

use crate::util::sha256_hex;

/// Whether `name` is acceptable to every client as it stands.
pub fn is_portable(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The plain exposed form: `prefix__name`, or `name` with an empty prefix.
fn joined(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}__{name}")
    }
}

/// The hashed form: sanitised, cut to fit, with a stable suffix.
pub fn hashed(server: &str, prefix: &str, name: &str, max_len: usize) -> String {
    let mut base: String = joined(prefix, name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut key = Vec::with_capacity(server.len() + name.len() + 1);
    key.extend_from_slice(server.as_bytes());
    key.push(0);
    key.extend_from_slice(name.as_bytes());
    let suffix = &sha256_hex(&key)[..8];
    base.truncate(max_len.saturating_sub(9)); // ASCII only now: any cut is a boundary
    format!("{base}-{suffix}")
}

/// The exposed name of one upstream name, ignoring collisions.
pub fn expose(server: &str, prefix: &str, name: &str, max_len: usize) -> String {
    let plain = joined(prefix, name);
    if plain.len() <= max_len && is_portable(&plain) {
        plain
    } else {
        hashed(server, prefix, name, max_len)
    }
}

/// Where an exposed name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Index of the upstream in the manager.
    pub upstream: usize,
    /// The name as the upstream knows it (shared: every call clones it).
    pub original: Arc<str>,
}

/// The exact two-way mapping of a set of exposed names.
#[derive(Debug, Default, Clone)]
pub struct NameTable {
    by_exposed: HashMap<String, Target>,
}

impl NameTable {
    /// Builds a table from `(upstream, server, prefix, original)` entries, in
    /// order; returns it with the exposed name of each entry (same order).
    pub fn build<'a>(
        entries: impl IntoIterator<Item = (usize, &'a str, &'a str, &'a str)>,
        max_len: usize,
    ) -> (Self, Vec<String>) {
        let entries: Vec<_> = entries.into_iter().collect();
        let mut names: Vec<String> = entries
            .iter()
            .map(|(_, server, prefix, name)| expose(server, prefix, name, max_len))
            .collect();
        // Every name claimed by more than one entry goes to the hashed form.
        let mut count: HashMap<&str, usize> = HashMap::new();
        for n in &names {
            *count.entry(n.as_str()).or_default() += 1;
        }
        let clashing: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| count[n.as_str()] > 1)
            .map(|(i, _)| i)
            .collect();
        for i in clashing {
            let (_, server, prefix, name) = entries[i];
            names[i] = hashed(server, prefix, name, max_len);
        }
        let mut by_exposed = HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            let (upstream, _, _, original) = entries[i];
            // The same upstream listing one name twice, or (beyond any
            // practical chance) a hash clash: the first entry keeps the name.
            by_exposed.entry(n.clone()).or_insert(Target {
                upstream,
                original: original.into(),
            });
        }
        (Self { by_exposed }, names)
    }

    /// Takes a name out of the table (a tool the org profile withholds):
    /// names stay as computed for everything else.
    pub fn remove(&mut self, exposed: &str) {
        self.by_exposed.remove(exposed);
    }

    /// Where an exposed name leads, if anywhere.
    pub fn resolve(&self, exposed: &str) -> Option<&Target> {
        self.by_exposed.get(exposed)
    }

    pub fn len(&self) -> usize {
        self.by_exposed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_exposed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names() {
        assert_eq!(
            expose("everything", "everything", "echo", 48),
            "everything__echo"
        );
        assert_eq!(expose("ev", "", "echo", 48), "echo");
    }

    #[test]
    fn odd_and_long_names_are_hashed_and_portable() {
        let dotted = expose("fs", "fs", "read.file", 48);
        assert!(is_portable(&dotted), "{dotted}");
        assert!(dotted.starts_with("fs__read_file-"), "{dotted}");
        let long = "x".repeat(100);
        let cut = expose("fs", "fs", &long, 48);
        assert_eq!(cut.len(), 48);
        assert!(is_portable(&cut));
        // Stable: the same input gives the same name.
        assert_eq!(cut, expose("fs", "fs", &long, 48));
        // Two long names that share a prefix stay apart.
        let other = format!("{long}y");
        assert_ne!(cut, expose("fs", "fs", &other, 48));
        let unicode = expose("fs", "fs", "größe", 48);
        assert!(is_portable(&unicode), "{unicode}");
    }

    #[test]
    fn no_upstream_shadows_another() {
        // Server "a" has tool "b__c"; server "a__b"-like clash via an empty prefix.
        let (table, names) = NameTable::build(
            [
                (0, "a", "a", "b__c"),
                (1, "x", "", "a__b__c"),
                (2, "y", "y", "ok"),
            ],
            48,
        );
        assert_ne!(names[0], names[1]);
        assert_eq!(names[2], "y__ok");
        assert_eq!(table.resolve(&names[0]).unwrap().upstream, 0);
        assert_eq!(table.resolve(&names[0]).unwrap().original, "b__c".into());
        assert_eq!(table.resolve(&names[1]).unwrap().upstream, 1);
        assert_eq!(table.resolve(&names[1]).unwrap().original, "a__b__c".into());
        assert!(table.resolve("a__b__c").is_none());
    }
}
