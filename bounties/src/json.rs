//! Serde helpers for the JSON the API serves from the state's records and views.

use serde::{Deserialize, Deserializer};

/// `#[serde(deserialize_with = "crate::json::present")]` on an `Option` field:
/// it must be there (`null` when empty). Serde would read a missing `Option`
/// as `None`, so a renamed field would silently look empty to a client.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}
