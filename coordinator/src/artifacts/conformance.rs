//! The behaviour every [`ArtifactStore`] promises, as one suite that each
//! implementation runs (local files now; S3 next): an absent artifact is
//! absent everywhere, a put artifact reads back byte for byte with its size,
//! owners are recorded once each and in order (concurrently too), a second
//! put of a stored hash keeps the bytes and adds the owner, the staged file
//! is consumed, and a reopened store holds everything acknowledged.
//! Panics with the first broken promise.

use bounties::{AccountId, Hash32, SecretKey};

use super::ArtifactStore;
use crate::staging::{Staging, collect};

fn account(byte: u8) -> AccountId {
    SecretKey::from_seed([byte; 32]).account()
}

/// Bytes that are not one repeated value, so a reordered chunk shows.
fn bytes(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ salt)
        .collect()
}

fn stage(staging: &Staging, bytes: &[u8]) -> crate::staging::Staged {
    use std::io::Write;
    let (mut staged, mut file) = staging.create().expect("staging a file");
    file.write_all(bytes).expect("writing the staged file");
    staged.set_size(bytes.len() as u64);
    staged
}

async fn read_all(store: &dyn ArtifactStore, hash: Hash32) -> Option<Vec<u8>> {
    let artifact = store.read(hash).await.expect("reading")?;
    let body = collect(artifact.body).await.expect("streaming");
    assert_eq!(
        artifact.size,
        body.len() as u64,
        "the size is the length read"
    );
    Some(body)
}

/// Run the suite on a fresh, empty store from `open`, staging uploads in
/// `staging` (which must be empty); `reopen` opens the same store again, as
/// after a restart.
pub async fn check(
    open: &dyn Fn() -> Box<dyn ArtifactStore>,
    reopen: &dyn Fn() -> Box<dyn ArtifactStore>,
    staging: &Staging,
) {
    let staging_dir = staging.dir();
    let store = open();
    let small = bytes(1_000, 1);
    let large = bytes(3 << 20, 2); // several chunks of any reader
    let (h_small, h_large) = (
        bounties::encoding::sha256(&small),
        bounties::encoding::sha256(&large),
    );
    let (alice, bob) = (account(1), account(2));

    // Absent is absent everywhere.
    assert_eq!(store.size(h_small).await.unwrap(), None);
    assert!(store.read(h_small).await.unwrap().is_none());
    assert!(store.owners(h_small).await.unwrap().is_empty());

    // A put reads back exactly, with its owner; the staged file is consumed.
    store
        .put(h_small, stage(staging, &small), alice)
        .await
        .unwrap();
    store
        .put(h_large, stage(staging, &large), bob)
        .await
        .unwrap();
    assert_eq!(store.size(h_small).await.unwrap(), Some(small.len() as u64));
    assert_eq!(read_all(store.as_ref(), h_small).await.unwrap(), small);
    assert_eq!(read_all(store.as_ref(), h_large).await.unwrap(), large);
    assert_eq!(store.owners(h_small).await.unwrap(), vec![alice]);
    assert_eq!(store.owners(h_large).await.unwrap(), vec![bob]);
    assert_eq!(
        std::fs::read_dir(staging_dir).unwrap().count(),
        0,
        "a put consumes its staged file"
    );

    // A second put of a stored hash keeps the bytes and adds its owner; the
    // same owner twice is recorded once; owners come in account order.
    store
        .put(h_small, stage(staging, &small), bob)
        .await
        .unwrap();
    store.add_owner(h_small, bob).await.unwrap();
    store.add_owner(h_small, alice).await.unwrap();
    let mut both = vec![alice, bob];
    both.sort();
    assert_eq!(store.owners(h_small).await.unwrap(), both);
    assert_eq!(read_all(store.as_ref(), h_small).await.unwrap(), small);
    assert_eq!(std::fs::read_dir(staging_dir).unwrap().count(), 0);

    // Owners recorded at once are all kept.
    let many: Vec<AccountId> = (10..42).map(account).collect();
    let store_ref = store.as_ref();
    futures_util::future::try_join_all(many.iter().map(|&o| store_ref.add_owner(h_large, o)))
        .await
        .unwrap();
    let mut want: Vec<AccountId> = many.iter().copied().chain([bob]).collect();
    want.sort();
    assert_eq!(store.owners(h_large).await.unwrap(), want);

    // Everything acknowledged survives a reopen.
    drop(store);
    let again = reopen();
    assert_eq!(read_all(again.as_ref(), h_small).await.unwrap(), small);
    assert_eq!(read_all(again.as_ref(), h_large).await.unwrap(), large);
    assert_eq!(again.owners(h_small).await.unwrap(), both);
    assert_eq!(again.owners(h_large).await.unwrap(), want);
}
