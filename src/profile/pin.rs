//! Pins: what a profile approves of a tool, byte for byte.
//!
//! A pin is `sha256:` followed by the lowercase hex SHA-256 of the RFC 8785
//! (JSON Canonicalization Scheme) form of the JSON value exactly as the
//! upstream sent it: for a tool, the whole tool object of its `tools/list`
//! answer (every member, `_meta` included, not a re-serialised SDK type); for
//! a server's instructions, the JSON string of `instructions` in its
//! `initialize` result. RFC 8785 sorts object members by their names' UTF-16
//! code units, writes no whitespace, escapes strings minimally, and writes
//! numbers as IEEE 754 doubles the way ECMAScript does (`1e21`, `0.1`, `5`),
//! so any other implementation (Python's `rfc8785`, the reference Java and
//! JavaScript ones) computes the same pin:
//!
//! ```text
//! pin = "sha256:" + hex(sha256(jcs(tool_object)))
//! ```

use serde_json::value::RawValue;

/// The RFC 8785 canonical form of a JSON text.
pub fn canonical(json: &str) -> Result<String, String> {
    serde_json_canonicalizer::pipe(json).map_err(|e| format!("not canonicalisable JSON: {e}"))
}

/// The pin of a JSON text.
pub fn pin(json: &str) -> Result<String, String> {
    Ok(format!(
        "sha256:{}",
        crate::util::sha256_hex(canonical(json)?.as_bytes())
    ))
}

/// The pin of a raw JSON value.
pub fn pin_raw(raw: &RawValue) -> Result<String, String> {
    pin(raw.get())
}

/// Which top-level members of a tool differ between the pinned definition
/// and what the upstream lists now (`description`, `inputSchema`...), in
/// name order.
pub fn drifted_fields(pinned: &str, now: &str) -> Vec<String> {
    let (Ok(a), Ok(b)) = (
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(pinned),
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(now),
    ) else {
        return vec!["(the whole definition)".into()];
    };
    let canon = |v: &serde_json::Value| serde_json_canonicalizer::to_string(v).unwrap_or_default();
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k).map(canon) != b.get(*k).map(canon))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8785_examples() {
        // Key order by UTF-16 code units, number forms, minimal escapes.
        assert_eq!(
            canonical(r#"{"b":1,"a":[1.0,2e1,1E21,0.000001,1e-7],"\u20ac":"\u00e9\n","\ud83d\ude00":1,"\ufb33":2}"#).unwrap(),
            "{\"a\":[1,20,1e+21,0.000001,1e-7],\"b\":1,\"€\":\"é\\n\",\"😀\":1,\"\u{fb33}\":2}"
        );
        assert_eq!(
            canonical("  [ null , true ,\"x\" ]").unwrap(),
            r#"[null,true,"x"]"#
        );
    }

    #[test]
    fn pins_ignore_layout_not_content() {
        let a =
            pin(r#"{"name":"echo","description":"Echo","inputSchema":{"type":"object"}}"#).unwrap();
        let b = pin("{ \"inputSchema\" : {\"type\":\"object\"},\n \"description\":\"Echo\", \"name\":\"echo\" }").unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
        let c = pin(r#"{"name":"echo","description":"Echo!","inputSchema":{"type":"object"}}"#)
            .unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn drift_names_the_fields() {
        let pinned = r#"{"name":"t","description":"a","inputSchema":{"type":"object"}}"#;
        let now =
            r#"{"name":"t","description":"b","inputSchema":{"type":"object"},"annotations":{}}"#;
        assert_eq!(drifted_fields(pinned, now), ["annotations", "description"]);
    }

    /// Property: canonicalisation is idempotent, and insensitive to member
    /// order and whitespace, on generated JSON.
    #[test]
    fn canonicalisation_properties() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn generate(next: &mut dyn FnMut() -> u64, depth: u32) -> serde_json::Value {
            use serde_json::Value;
            match next() % if depth > 3 { 5 } else { 7 } {
                0 => Value::Null,
                1 => Value::Bool(next().is_multiple_of(2)),
                2 => {
                    let bits = next();
                    let f = f64::from_bits(bits);
                    if f.is_finite() {
                        serde_json::json!(f)
                    } else {
                        serde_json::json!((bits % 1_000_000) as f64 / 7.0)
                    }
                }
                3 => serde_json::json!((next() % 2_000_000) as i64 - 1_000_000),
                4 => {
                    let chars = ['a', 'Z', '€', '😀', '\n', '"', '\\', '\u{1}', 'דּ', ' '];
                    Value::String(
                        (0..next() % 6)
                            .map(|_| chars[(next() % 10) as usize])
                            .collect(),
                    )
                }
                5 => Value::Array((0..next() % 4).map(|_| generate(next, depth + 1)).collect()),
                _ => {
                    let mut m = serde_json::Map::new();
                    for i in 0..next() % 5 {
                        let key = ["b", "a", "€", "😀", "דּ", "A", "aa"][(next() % 7) as usize];
                        m.insert(format!("{key}{i}"), generate(next, depth + 1));
                    }
                    Value::Object(m)
                }
            }
        }
        for _ in 0..2000 {
            let v = generate(&mut next, 0);
            let compact = serde_json::to_string(&v).unwrap();
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            let c1 = canonical(&compact).unwrap();
            assert_eq!(c1, canonical(&pretty).unwrap());
            assert_eq!(c1, canonical(&c1).unwrap(), "idempotent");
            // Same value back.
            let back: serde_json::Value = serde_json::from_str(&c1).unwrap();
            assert_eq!(
                canonical(&serde_json::to_string(&back).unwrap()).unwrap(),
                c1
            );
        }
    }
}
