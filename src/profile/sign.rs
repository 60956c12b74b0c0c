//! minisign (Ed25519) keys and detached signatures, compatible with the stock
//! `minisign` tool both ways: a key made here signs files `minisign -V`
//! accepts, and `minisign -S` signatures verify here.

use std::io::Cursor;

use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKeyBox, SignatureBox};

/// A trusted public key: minisign's base64 line (`RW...`).
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub key: PublicKey,
    /// minisign's key id, as `minisign` prints it (16 upper-case hex digits).
    pub id: String,
}

fn key_id(keynum: &[u8]) -> String {
    let mut n = [0u8; 8];
    n.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(n))
}

impl TrustedKey {
    /// Parses a public key: the base64 line, or a whole `.pub` file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or("");
        let key = PublicKey::from_base64(line)
            .map_err(|e| format!("\"{line}\" is not a minisign public key: {e}"))?;
        let id = key_id(key.keynum());
        Ok(Self { key, id })
    }
}

/// A verified signature: which key made it, and its trusted comment.
#[derive(Debug, Clone)]
pub struct Verified {
    pub key_id: String,
    pub trusted_comment: String,
}

/// Verifies `data` against a detached minisign signature with any of `keys`.
/// Legacy (non-prehashed) signatures are accepted, as `minisign -V` does.
pub fn verify(data: &[u8], signature: &str, keys: &[TrustedKey]) -> Result<Verified, String> {
    let sig = SignatureBox::from_string(signature)
        .map_err(|e| format!("the signature is not a minisign signature: {e}"))?;
    let sig_id = key_id(sig.keynum());
    let Some(key) = keys.iter().find(|k| k.id == sig_id) else {
        return Err(format!(
            "the signature was made with the key {sig_id}, which is not a trusted key (trusted: {})",
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    };
    minisign::verify(&key.key, &sig, Cursor::new(data), true, false, true)
        .map_err(|e| format!("the signature does not match (key {sig_id}): {e}"))?;
    Ok(Verified {
        key_id: sig_id,
        trusted_comment: sig.trusted_comment().unwrap_or_default(),
    })
}

/// A new key pair: (public key file text, secret key file text, key id).
/// With a password, the secret key is encrypted as minisign does (scrypt).
pub fn keygen(password: Option<String>) -> Result<(String, String, String), String> {
    let pair = match password {
        Some(p) => KeyPair::generate_encrypted_keypair(Some(p)),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| format!("could not make a key pair: {e}"))?;
    let id = key_id(pair.pk.keynum());
    let pk = pair.pk.to_box().map_err(|e| e.to_string())?.to_string();
    let sk = pair.sk.to_box(None).map_err(|e| e.to_string())?.to_string();
    Ok((pk, sk, id))
}

/// Whether a secret key file is password-protected.
pub fn secret_key_encrypted(sk_text: &str) -> Result<bool, String> {
    use base64::Engine;
    // The key's second line: signature algorithm "Ed", then the KDF
    // algorithm: "Sc" (scrypt, encrypted) or two zero bytes.
    let line = sk_text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|_| "not a minisign secret key".to_string())?;
    match bytes.get(2..4) {
        Some(b"Sc") => Ok(true),
        Some([0, 0]) => Ok(false),
        _ => Err("not a minisign secret key".into()),
    }
}

/// Signs `data` with a secret key file's text (and its password, if it is
/// encrypted). Returns the `.minisig` text.
pub fn sign(
    data: &[u8],
    sk_text: &str,
    password: Option<String>,
    trusted_comment: &str,
) -> Result<String, String> {
    let sk_text = with_checksum(sk_text);
    let sk_box = SecretKeyBox::from_string(&sk_text)
        .map_err(|e| format!("not a minisign secret key: {e}"))?;
    let sk = match password {
        Some(p) => sk_box.into_secret_key(Some(p)),
        None => sk_box.into_unencrypted_secret_key(),
    }
    .map_err(|e| format!("could not open the secret key (wrong password?): {e}"))?;
    let sig = minisign::sign(None, &sk, Cursor::new(data), Some(trusted_comment), None)
        .map_err(|e| format!("could not sign: {e}"))?;
    Ok(sig.to_string())
}

/// `minisign -G -W` (0.11) writes unencrypted keys with an all-zero
/// checksum, which the minisign crate rejects as corrupted: fill in the
/// checksum (BLAKE2b-256 of the signature algorithm, key id and secret key)
/// so such keys sign here too. Any other key is returned as it is.
fn with_checksum(sk_text: &str) -> String {
    use base64::Engine;
    use blake2::Digest;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut lines: Vec<&str> = sk_text.lines().collect();
    let Some(i) = lines
        .iter()
        .position(|l| !l.trim().is_empty() && !l.starts_with("untrusted comment:"))
    else {
        return sk_text.to_string();
    };
    let Ok(mut bytes) = engine.decode(lines[i].trim()) else {
        return sk_text.to_string();
    };
    // sig_alg 2, kdf_alg 2, chk_alg 2, salt 32, opslimit 8, memlimit 8,
    // keynum 8, sk 64, chk 32.
    if bytes.len() != 158 || bytes[2..4] != [0, 0] || bytes[126..].iter().any(|b| *b != 0) {
        return sk_text.to_string();
    }
    let mut h = blake2::Blake2b::<blake2::digest::consts::U32>::new();
    h.update(&bytes[0..2]);
    h.update(&bytes[54..62]);
    h.update(&bytes[62..126]);
    bytes[126..].copy_from_slice(&h.finalize());
    let fixed = engine.encode(&bytes);
    lines[i] = &fixed;
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The public key of a `.pub` file's text, as the base64 line config wants.
pub fn public_line(pk_text: &str) -> Result<String, String> {
    let b = PublicKeyBox::from_string(pk_text).map_err(|e| e.to_string())?;
    Ok(b.into_public_key().map_err(|e| e.to_string())?.to_base64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let (pk, sk, id) = keygen(None).unwrap();
        let key = TrustedKey::parse(&pk).unwrap();
        assert_eq!(key.id, id);
        let sig = sign(b"profile", &sk, None, "serial:1").unwrap();
        let v = verify(b"profile", &sig, std::slice::from_ref(&key)).unwrap();
        assert_eq!(v.key_id, id);
        assert_eq!(v.trusted_comment, "serial:1");
        assert!(verify(b"profilE", &sig, std::slice::from_ref(&key)).is_err());
        let (other, _, _) = keygen(None).unwrap();
        let err = verify(b"profile", &sig, &[TrustedKey::parse(&other).unwrap()]).unwrap_err();
        assert!(err.contains("not a trusted key"), "{err}");
    }

    #[test]
    fn encrypted_keys_need_their_password() {
        let (_, sk, _) = keygen(Some("pw".into())).unwrap();
        assert!(secret_key_encrypted(&sk).unwrap());
        assert!(sign(b"x", &sk, Some("wrong".into()), "c").is_err());
        assert!(sign(b"x", &sk, Some("pw".into()), "c").is_ok());
    }
}
