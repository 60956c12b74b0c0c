//! The audit chain verifier (`audit::verify_rows`, `verify_checkpoints`,
//! `audit::sign::check`) over arbitrary rows, and the record format.
//!
//! Input: lines of text.
//! - `R SEQ HASH BODY`: a row of `records`. HASH `-` stands for the real
//!   SHA-256 of BODY; `$PREV` in BODY stands for the previous row's hash,
//!   so the fuzzer can build chains that link.
//! - `C SEQ SIG BODY`: a row of `checkpoints`. SIG `-` is none, `!` a
//!   real signature of BODY by this run's device key; `$HASH` in BODY
//!   stands for the hash of the record at SEQ, `$KEY` for the device key.
//! - `A HASH`: the anchor (where uploaded records were deleted).
//! - any other line: a record (JSON). Those that parse as a `Record` are
//!   sealed into a fresh chain, which must verify intact (strictly); a
//!   changed body, a removed record and two swapped records must not.
//!
//! Nothing may panic on any rows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate::audit::sign::DeviceKey;
use toolgate::audit::{GENESIS, Record};

fn key() -> &'static DeviceKey {
    static K: std::sync::OnceLock<DeviceKey> = std::sync::OnceLock::new();
    K.get_or_init(|| DeviceKey::generate().expect("a key"))
}

fn sha(s: &str) -> String {
    toolgate::util::sha256_hex(s.as_bytes())
}

fn verify(
    rows: &[(u64, String, String)],
    anchor: Option<&str>,
    strict: bool,
) -> Vec<toolgate::audit::Problem> {
    let (count, problems) = toolgate::audit::verify_rows(
        rows.iter().map(|(s, b, h)| (*s, b.as_str(), h.as_str())),
        anchor,
        strict,
    );
    assert_eq!(count, rows.len() as u64);
    problems
}

/// A fresh chain from records: it verifies, and tampering shows.
fn sealed(records: Vec<Record>) {
    let mut prev = GENESIS.to_string();
    let mut rows = Vec::new();
    for (i, mut r) in records.into_iter().enumerate() {
        r.seq = i as u64 + 1;
        r.prev = prev;
        let Ok((body, hash)) = r.seal() else { return };
        prev = hash.clone();
        rows.push((r.seq, body, hash));
    }
    let problems = verify(&rows, Some(GENESIS), true);
    assert!(
        problems.is_empty(),
        "a sealed chain does not verify: {problems:?}\n{rows:?}"
    );
    if rows.is_empty() {
        return;
    }
    let mut edited = rows.clone();
    edited[0].1.push(' ');
    assert!(
        !verify(&edited, Some(GENESIS), false).is_empty(),
        "an edit went unseen"
    );
    if rows.len() >= 3 {
        let mut removed = rows.clone();
        removed.remove(1);
        assert!(
            !verify(&removed, Some(GENESIS), false).is_empty(),
            "a removal went unseen"
        );
        let mut swapped = rows.clone();
        swapped.swap(1, 2);
        swapped[1].0 = 2;
        swapped[2].0 = 3;
        assert!(
            !verify(&swapped, Some(GENESIS), false).is_empty(),
            "a swap went unseen"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut rows: Vec<(u64, String, String)> = Vec::new();
    let mut checkpoints: Vec<(u64, String, Option<String>)> = Vec::new();
    let mut anchor: Option<String> = None;
    let mut records = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(4, ' ');
        let tag = f.next().unwrap_or("");
        match tag {
            "R" | "C" => {
                let Some(seq) = f.next().and_then(|s| s.parse::<u64>().ok()) else {
                    continue;
                };
                let third = f.next().unwrap_or("-");
                let body = f.next().unwrap_or("");
                if tag == "R" {
                    let prev = rows.last().map_or(GENESIS, |r| r.2.as_str());
                    let body = body.replace("$PREV", prev);
                    let hash = if third == "-" {
                        sha(&body)
                    } else {
                        third.to_owned()
                    };
                    rows.push((seq, body, hash));
                } else {
                    let at = rows
                        .iter()
                        .find(|r| r.0 == seq)
                        .map_or("", |r| r.2.as_str());
                    let body = body.replace("$HASH", at).replace("$KEY", key().public());
                    let sig = match third {
                        "-" => None,
                        "!" => Some(key().sign(&body)),
                        s => Some(s.to_owned()),
                    };
                    let _ = toolgate::audit::sign::check(&body, sig.as_deref());
                    checkpoints.push((seq, body, sig));
                }
            }
            "A" => anchor = f.next().map(str::to_owned),
            _ => {
                if let Ok(r) = serde_json::from_str::<Record>(line) {
                    records.push(r);
                }
            }
        }
    }
    for strict in [false, true] {
        let _ = verify(&rows, anchor.as_deref(), strict);
        let _ = verify(&rows, Some(GENESIS), strict);
    }
    let first = rows.first().map(|r| r.0);
    let last = rows.iter().map(|r| r.0).max();
    for device in [None, Some(key().public())] {
        let _ = toolgate::audit::verify_checkpoints(
            &checkpoints,
            |seq| rows.iter().find(|r| r.0 == seq).map(|r| r.2.clone()),
            first,
            last,
            device,
        );
    }
    sealed(records);
});
