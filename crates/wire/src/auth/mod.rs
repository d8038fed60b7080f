//! Auth plugin responses, as pure functions of the password and the server's
//! nonce. Nothing here prints or logs; callers must not either.
//!
//! - mysql_native_password: `SHA1(pw) XOR SHA1(nonce || SHA1(SHA1(pw)))`.
//! - caching_sha2_password: `SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || nonce)`;
//!   full authentication sends the password over TLS, or RSA-OAEP encrypts
//!   `(pw || NUL) XOR nonce` with the server's public key.
//! - sha256_password: the same cleartext-over-TLS or RSA exchange.
//! - client_ed25519 (MariaDB): an Ed25519 signature of the nonce whose
//!   secret scalar and nonce prefix come from SHA-512 of the *whole password*
//!   (not a 32-byte seed), so no standard Ed25519 crate API fits; it is
//!   built on curve25519-dalek as mysql_common does.
//! - mysql_clear_password: the password and a NUL (TLS only).

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// Why an auth response could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server's public key is not a PEM RSA key.
    #[error("server public key is not a PEM RSA key")]
    BadPublicKey,
    /// RSA encryption failed (password too long for the key).
    #[error("RSA encryption failed: password too long for the server's key")]
    EncryptFailed,
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b.iter()).map(|(x, y)| x ^ y).collect()
}

/// mysql_native_password response; empty for an empty password.
pub fn native_password(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha1::digest(password);
    let h2 = Sha1::digest(h1);
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(h2);
    xor(&h1, &h.finalize())
}

/// caching_sha2_password scramble; empty for an empty password.
pub fn caching_sha2_password(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha256::digest(password);
    let h2 = Sha256::digest(h1);
    let mut h = Sha256::new();
    h.update(h2);
    h.update(nonce);
    xor(&h1, &h.finalize())
}

/// The password for cleartext exchanges (over TLS): bytes and a NUL.
pub fn cleartext_password(password: &[u8]) -> Vec<u8> {
    let mut v = password.to_vec();
    v.push(0);
    v
}

/// RSA-OAEP (SHA-1, as libmysqlclient's RSA_PKCS1_OAEP_PADDING) encryption
/// of `(password || NUL) XOR nonce` with the server's PEM public key, for
/// caching_sha2_password and sha256_password over plain TCP.
pub fn rsa_encrypt_password(
    password: &[u8],
    nonce: &[u8],
    pem: &[u8],
) -> Result<Vec<u8>, AuthError> {
    let pem = std::str::from_utf8(pem).map_err(|_| AuthError::BadPublicKey)?;
    let pem = pem.trim_end_matches('\0');
    let key = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|_| AuthError::BadPublicKey)?;
    let plain = cleartext_password(password);
    let mixed: Vec<u8> = if nonce.is_empty() {
        plain
    } else {
        plain
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ nonce[i % nonce.len()])
            .collect()
    };
    key.encrypt(&mut rand_core::OsRng, rsa::Oaep::new::<Sha1>(), &mixed)
        .map_err(|_| AuthError::EncryptFailed)
}

/// MariaDB client_ed25519: the 64-byte signature of `nonce`.
pub fn client_ed25519(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    use curve25519_dalek::{EdwardsPoint, Scalar};
    let h = Sha512::digest(password);
    let mut az = [0u8; 32];
    az.copy_from_slice(&h[..32]);
    az[0] &= 248;
    az[31] &= 63;
    az[31] |= 64;
    let a = Scalar::from_bytes_mod_order(az);
    let big_a = EdwardsPoint::mul_base(&a).compress();

    let mut hr = Sha512::new();
    hr.update(&h[32..]);
    hr.update(nonce);
    let r = Scalar::from_bytes_mod_order_wide(&hr.finalize().into());
    let big_r = EdwardsPoint::mul_base(&r).compress();

    let mut hk = Sha512::new();
    hk.update(big_r.as_bytes());
    hk.update(big_a.as_bytes());
    hk.update(nonce);
    let k = Scalar::from_bytes_mod_order_wide(&hk.finalize().into());
    let s = k * a + r;

    let mut sig = Vec::with_capacity(64);
    sig.extend_from_slice(big_r.as_bytes());
    sig.extend_from_slice(s.as_bytes());
    sig
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_password_known_vector() {
        // The server stores SHA1(SHA1(pw)); check the response reverses to it:
        // SHA1(resp XOR SHA1(nonce || stored)) == stored.
        let nonce = b"01234567890123456789";
        let resp = native_password(b"secret", nonce);
        let stored = Sha1::digest(Sha1::digest(b"secret"));
        let mut h = Sha1::new();
        h.update(nonce);
        h.update(stored);
        let h1 = xor(&resp, &h.finalize());
        assert_eq!(Sha1::digest(h1).as_slice(), stored.as_slice());
        assert!(native_password(b"", nonce).is_empty());
    }

    #[test]
    fn caching_sha2_reverses_like_the_server() {
        let nonce = b"abcdefghijabcdefghij";
        let resp = caching_sha2_password(b"pw", nonce);
        let stored = Sha256::digest(Sha256::digest(b"pw"));
        let mut h = Sha256::new();
        h.update(stored);
        h.update(nonce);
        let h1 = xor(&resp, &h.finalize());
        assert_eq!(Sha256::digest(h1).as_slice(), stored.as_slice());
    }

    #[test]
    fn ed25519_signature_verifies_as_standard_ed25519() {
        // MariaDB's server verifies with the standard Ed25519 equation
        // S*B == R + k*A; check it here against the derived public key.
        use curve25519_dalek::{EdwardsPoint, Scalar, edwards::CompressedEdwardsY};
        let nonce = [7u8; 32];
        let sig = client_ed25519(b"hunter2", &nonce);
        let h = Sha512::digest(b"hunter2");
        let mut az = [0u8; 32];
        az.copy_from_slice(&h[..32]);
        az[0] &= 248;
        az[31] &= 63;
        az[31] |= 64;
        let a = EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(az));
        let r = CompressedEdwardsY(sig[..32].try_into().unwrap())
            .decompress()
            .unwrap();
        let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
        let mut hk = Sha512::new();
        hk.update(&sig[..32]);
        hk.update(a.compress().as_bytes());
        hk.update(nonce);
        let k = Scalar::from_bytes_mod_order_wide(&hk.finalize().into());
        assert_eq!(EdwardsPoint::mul_base(&s), r + k * a);
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert_eq!(
            rsa_encrypt_password(b"x", b"n", b"nope"),
            Err(AuthError::BadPublicKey)
        );
    }
}
