//! Newtypes for the protocol's nouns: hashes, accounts, amounts, times, scores and ids.
//!
//! Each one says in its type what it is, so an amount is never passed where a
//! score is expected. Hashes and accounts print and parse as lowercase hex;
//! amounts travel through JSON and TOML as decimal strings because `u128` does
//! not fit a JSON number.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} lowercase hex characters, got {got:?}")]
pub struct ParseHexError {
    pub(crate) expected: usize,
    pub(crate) got: String,
}

fn parse_hex32(s: &str) -> Result<[u8; 32], ParseHexError> {
    let err = || ParseHexError {
        expected: 64,
        got: s.chars().take(80).collect(),
    };
    // Only lowercase is accepted so that one hash has exactly one spelling
    // (storage keys and URLs are built from it).
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(err());
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| err())?;
    Ok(out)
}

macro_rules! hex32_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            /// Lowercase hex, 64 characters.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// The first 8 hex characters, for humans.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = ParseHexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex32(s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex32_newtype!(
    /// A SHA-256 digest: a file, a model's weights, a dataset, a log entry or a state.
    Hash32
);
hex32_newtype!(
    /// An account: the 32 bytes of an ed25519 public key.
    AccountId
);

impl Hash32 {
    /// The all-zero hash, used as the genesis entry's `prev_hash`.
    pub const ZERO: Hash32 = Hash32([0; 32]);
}

/// A token amount in base units. All token math is checked: an overflow is a
/// rejection, never a wrap.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Amount(pub u128);

impl Amount {
    /// No tokens.
    pub const ZERO: Amount = Amount(0);

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }
    /// `self - other`, or `None` when it would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}u", self.0)
    }
}

impl FromStr for Amount {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Amount)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// Accepts a decimal string (any size) or a non-negative integer (TOML
    /// and JSON integers are 64-bit, so large amounts must be strings).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Int(u64),
            Str(String),
        }
        match Repr::deserialize(d)? {
            Repr::Int(v) => Ok(Amount(u128::from(v))),
            Repr::Str(s) => s.parse().map_err(|e| {
                serde::de::Error::custom(format!("amount {s:?} is not a whole number: {e}"))
            }),
        }
    }
}

/// Milliseconds since the Unix epoch, as stamped by the sequencer.
#[derive(
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct TimestampMs(pub u64);

impl fmt::Display for TimestampMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

impl TimestampMs {
    /// As a UTC date and time, `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian).
    pub fn utc(self) -> String {
        let secs = self.0 / 1000;
        let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
        // Howard Hinnant's civil-from-days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }

    /// `self + ms`, saturating at the end of time rather than wrapping.
    pub fn saturating_add_ms(self, ms: u64) -> TimestampMs {
        TimestampMs(self.0.saturating_add(ms))
    }
}

/// A metric value in fixed point: millionths of the metric's unit (accuracy
/// 0.953 is `953_000`, a cross-entropy of 1.25 nats is `1_250_000`). The
/// evaluator derives it with one documented rounding rule; no float ever
/// reaches the ledger.
#[derive(
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Score(pub i64);

impl Score {
    /// How many score units make one unit of the metric.
    pub const SCALE: i64 = 1_000_000;
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let scale = Score::SCALE.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / scale, abs % scale)
    }
}

/// A bounty, named by the sequence number of the log entry that opened it.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct BountyId(pub u64);

/// A submission, named by the sequence number of its `Submit` entry.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct SubmissionId(pub u64);

impl fmt::Display for BountyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc_dates() {
        assert_eq!(TimestampMs(0).utc(), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            TimestampMs(1_795_657_752_661).utc(),
            "2026-11-26 01:49:12 UTC"
        );
        assert_eq!(
            TimestampMs(951_782_400_000).utc(),
            "2000-02-29 00:00:00 UTC"
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_other_spellings() {
        let h = Hash32([0xab; 32]);
        assert_eq!(h.to_hex().parse::<Hash32>().unwrap(), h);
        for bad in [
            "",
            "ab",
            &"AB".repeat(32),
            &"zz".repeat(32),
            &"ab".repeat(33),
        ] {
            assert!(bad.parse::<Hash32>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn amount_reads_strings_and_integers() {
        let a: Amount =
            serde_json::from_str("\"340282366920938463463374607431768211455\"").unwrap();
        assert_eq!(a, Amount(u128::MAX));
        let b: Amount = serde_json::from_str("42").unwrap();
        assert_eq!(b, Amount(42));
        assert!(serde_json::from_str::<Amount>("\"-1\"").is_err());
        assert_eq!(serde_json::to_string(&Amount(7)).unwrap(), "\"7\"");
    }

    #[test]
    fn score_prints_as_a_decimal() {
        assert_eq!(Score(953_000).to_string(), "0.953000");
        assert_eq!(Score(-1_250_000).to_string(), "-1.250000");
        assert_eq!(Score(i64::MIN).to_string(), "-9223372036854.775808");
    }
}
