//! Org profiles: parsing (TOML, strict), validation, and the minisign
//! signature check, as `toolgate` applies them to what a registry serves.
//!
//! Input: the profile text, then optionally a NUL byte and a `.minisig`
//! text. The signature (when given) goes through `sign::verify` and
//! `registry::check` with the example org key trusted. Then the profile
//! is signed with the example key (committed for tests, never to be
//! trusted) and goes through `registry::check` and `check_cached`, the
//! real path a pulled profile takes (verify, then `Profile::parse` or
//! `Profile::parse_verified`, rollback and expiry): a valid signature over
//! fuzzed text. Whatever the full check accepts the cache's check must
//! accept; a signature must never verify over changed bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate::profile::{Profile, pin, registry, sign};

const EXAMPLE_PUB: &str = include_str!("../../profiles/examples/EXAMPLE-ONLY.pub");
const EXAMPLE_KEY: &str = include_str!("../../profiles/examples/EXAMPLE-ONLY.key");
/// 2026-11-23T00:00:00Z: a fixed "now", so runs are reproducible.
const NOW: i64 = 1_795_392_000;

fn keys() -> &'static [sign::TrustedKey] {
    static KEYS: std::sync::OnceLock<Vec<sign::TrustedKey>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| vec![sign::TrustedKey::parse(EXAMPLE_PUB).expect("the example key")])
}

fn use_profile(p: &Profile) {
    let _ = p.in_force(NOW);
    let _ = p.time_left(NOW);
    let _ = p.end_of_force();
    for s in p.servers.values() {
        let _ = s.server_config();
    }
}

fuzz_target!(|data: &[u8]| {
    let (body, sig) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    // The signature first, as a pulled profile is checked.
    if let Some(sig) = sig.and_then(|s| std::str::from_utf8(s).ok()) {
        let _ = sign::verify(body, sig, keys());
        let _ = registry::check(body, sig, keys(), 0, NOW);
        let _ = sign::TrustedKey::parse(sig);
        let _ = sign::public_line(sig);
        let _ = sign::secret_key_encrypted(sig);
        let _ = pin::pin(sig);
    }
    if let Some(first) = std::str::from_utf8(body)
        .ok()
        .and_then(|t| t.lines().next())
    {
        let _ = toolgate::profile::parse_time(first);
        let _ = toolgate::profile::version_at_least(first);
    }
    // A real signature over the fuzzed text: the whole registry check,
    // which parses (strictly, and as the cache does) after verifying.
    let sig = sign::sign(body, EXAMPLE_KEY, None, "fuzz").expect("signing with the example key");
    let full = registry::check(body, &sig, keys(), 0, NOW);
    let light = registry::check_cached(body, &sig, keys(), 0, NOW);
    if let Err(e) = &full {
        assert!(
            !e.starts_with("the signature"),
            "a valid signature was refused: {e}"
        );
    }
    // Whatever passes the full check passes the cache's lighter one.
    if let Ok((p, _)) = &full {
        assert!(
            light.is_ok(),
            "check accepted what check_cached refused: {light:?}"
        );
        use_profile(p);
    }
    if let Ok((p, _)) = &light {
        use_profile(p);
    }
    // The same signature over other bytes never verifies.
    let mut tampered = body.to_vec();
    match tampered.last_mut() {
        Some(b) => *b ^= 1,
        None => tampered.push(b'x'),
    }
    assert!(
        sign::verify(&tampered, &sig, keys()).is_err(),
        "a signature verified over changed data"
    );
});
