//! ed25519 keys and signatures, always checked with strict verification.
//!
//! `verify_strict` rejects small-order keys and non-canonical signature
//! encodings, so one message has exactly one valid signature per key and a
//! signature cannot be malleated into another valid one. Batch verification is
//! never the deciding check. Key generation needs an entropy source, which is
//! IO: shells draw 32 random bytes and call [`SecretKey::from_seed`].

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::AccountId;

/// Whether signatures are checked. Live appends always do; a node
/// replaying a log it wrote itself (hash chain intact) may skip them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Check every signature strictly.
    Signatures,
    /// Trust the signatures (the hash chain and everything else is still checked).
    Skip,
}

/// A signing key. Its `Debug` never prints the secret.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key whose 32-byte seed is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// A key from its key-file text: the seed as 64 hex characters (surrounding
    /// whitespace ignored).
    pub fn from_hex_seed(text: &str) -> Result<SecretKey, crate::ids::ParseHexError> {
        let seed: crate::ids::Hash32 = text.trim().to_ascii_lowercase().parse()?;
        Ok(SecretKey::from_seed(seed.0))
    }

    /// The 32-byte seed, for writing a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The account this key signs for.
    pub fn account(&self) -> AccountId {
        AccountId(self.0.verifying_key().to_bytes())
    }

    /// Sign `payload` as is. Callers build the payload with a domain tag
    /// (see [`crate::encoding::signing_payload`]).
    pub fn sign(&self, payload: &[u8]) -> Signature {
        Signature(self.0.sign(payload).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(account {})", self.account().short())
    }
}

/// A 64-byte ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..4]))
    }
}

impl Signature {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::str::FromStr for Signature {
    type Err = crate::ids::ParseHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 64];
        hex::decode_to_slice(s, &mut out).map_err(|_| crate::ids::ParseHexError {
            expected: 128,
            got: s.chars().take(140).collect(),
        })?;
        Ok(Signature(out))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(&s, &mut out)
            .map_err(|_| serde::de::Error::custom("expected 128 hex characters"))?;
        Ok(Signature(out))
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The account bytes are not a valid ed25519 point.
    #[error("the account is not a valid ed25519 public key")]
    BadKey,
    /// The signature does not verify under strict rules.
    #[error("the signature does not verify for this account")]
    BadSignature,
}

/// Strictly verify `signature` over `payload` for `account`.
pub fn verify_strict(
    account: &AccountId,
    payload: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    let key = VerifyingKey::from_bytes(account.as_bytes()).map_err(|_| SignatureError::BadKey)?;
    let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(payload, &sig)
        .map_err(|_| SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_rejects_tampering() {
        let key = SecretKey::from_seed([7; 32]);
        let sig = key.sign(b"hello");
        assert_eq!(verify_strict(&key.account(), b"hello", &sig), Ok(()));
        assert_eq!(
            verify_strict(&key.account(), b"hellO", &sig),
            Err(SignatureError::BadSignature)
        );
        let other = SecretKey::from_seed([8; 32]);
        assert_eq!(
            verify_strict(&other.account(), b"hello", &sig),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn small_order_keys_are_refused() {
        // The identity point (a small-order key) verifies forged signatures
        // under lax rules; strict verification must refuse it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        assert!(verify_strict(&AccountId(identity), b"anything", &Signature(sig)).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = SecretKey::from_seed([9; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode([9u8; 32])));
    }
}
