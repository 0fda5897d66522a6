//! Artifacts in a real S3 implementation run in process (s3s-fs, over HTTP
//! on 127.0.0.1): the artifact store conformance suite, a multipart upload
//! read back byte for byte, an upload killed part-way that leaves no object
//! under its key, and a 1 GB upload through the real binary into the bucket
//! in bounded memory.

#![allow(clippy::disallowed_methods)]

mod support;

use std::io::Write;
use std::sync::Arc;

use bounties::{Hash32, SecretKey};
use coordinator::artifacts::s3::{BucketUrl, PART_BYTES, S3Artifacts};
use coordinator::artifacts::{ArtifactStore, conformance};
use coordinator::staging::{Staging, collect};
use hyper_util::rt::{TokioExecutor, TokioIo};

const KEY_ID: &str = "mb-test-access";
const SECRET: &str = "mb-test-secret";

/// An S3 server on a free port, storing under `root`, with one bucket: its URL.
async fn s3_server(root: &std::path::Path) -> BucketUrl {
    std::fs::create_dir_all(root.join("artifacts")).unwrap();
    let fs = s3s_fs::FileSystem::new(root).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(KEY_ID, SECRET));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(conn);
        }
    });
    format!("s3://artifacts?endpoint={endpoint}")
        .parse()
        .unwrap()
}

fn open(url: &BucketUrl) -> S3Artifacts {
    S3Artifacts::open(url, Some((KEY_ID, SECRET))).unwrap()
}

fn staged(staging: &Staging, bytes: &[u8]) -> coordinator::staging::Staged {
    let (mut staged, mut file) = staging.create().unwrap();
    file.write_all(bytes).unwrap();
    staged.set_size(bytes.len() as u64);
    staged
}

fn bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_store_keeps_the_promises_of_the_trait() {
    let dir = tempfile::tempdir().unwrap();
    let url = s3_server(&dir.path().join("s3")).await;
    let staging = Staging::open(&dir.path().join("staging")).unwrap();
    let opener = || Box::new(open(&url)) as Box<dyn ArtifactStore>;
    conformance::check(&opener, &opener, &staging).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_reads_back_whole_and_a_killed_one_leaves_no_object() {
    let dir = tempfile::tempdir().unwrap();
    let url = s3_server(&dir.path().join("s3")).await;
    let staging = Staging::open(&dir.path().join("staging")).unwrap();
    let store = Arc::new(open(&url));
    let owner = SecretKey::from_seed([3; 32]).account();

    // Three parts and a bit.
    let big = bytes(3 * PART_BYTES + 12_345);
    let hash = bounties::encoding::sha256(&big);
    store
        .put(hash, staged(&staging, &big), owner)
        .await
        .unwrap();
    assert_eq!(store.size(hash).await.unwrap(), Some(big.len() as u64));
    let read = store.read(hash).await.unwrap().unwrap();
    assert_eq!(read.size, big.len() as u64);
    assert!(
        collect(read.body).await.unwrap() == big,
        "the bytes read back differ"
    );
    assert_eq!(store.owners(hash).await.unwrap(), vec![owner]);

    // An upload stopped after its first part (the task dropped, as when the
    // process dies): no object under its key.
    let other = bytes(4 * PART_BYTES);
    let other_hash: Hash32 = bounties::encoding::sha256(&other);
    let put = {
        let store = Arc::clone(&store);
        let staged = staged(&staging, &other);
        tokio::spawn(async move { store.put(other_hash, staged, owner).await })
    };
    let s3_root = dir.path().join("s3");
    // Wait until the server holds upload data, then stop the upload.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while disk_bytes(&s3_root) < big.len() as u64 + PART_BYTES as u64 / 2 {
        assert!(std::time::Instant::now() < deadline, "no part arrived");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    put.abort();
    let _ = put.await;
    assert_eq!(store.size(other_hash).await.unwrap(), None);
    assert!(store.read(other_hash).await.unwrap().is_none());
}

/// Bytes under `dir`, every file.
fn disk_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[test]
fn a_1_gb_upload_through_a_front_end_goes_to_the_bucket_in_bounded_memory() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = runtime.block_on(s3_server(&dir.path().join("s3")));
    let data = dir.path().join("data");
    support::binary::coordinator(&[
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--dev",
        "alice",
    ]);
    let key = coordinator::datadir::DataDir::read_key(&data.join("keys/dev/alice.key")).unwrap();
    let artifacts = format!("s3://{}?endpoint={}", url.bucket, url.endpoint);
    let mut child = std::process::Command::new(support::binary::BIN)
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--artifacts",
            &artifacts,
            "--max-artifact-bytes",
            "2000000000",
        ])
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let served = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let (hash, size) = support::binary::upload_1_gb(&mut child, &served, &key);
    let _ = child.kill();
    let _ = child.wait();
    // In the bucket, and nowhere in the data dir.
    let store = open(&url);
    assert_eq!(runtime.block_on(store.size(hash)).unwrap(), Some(size));
    assert!(!data.join("artifacts").join(&hash.to_hex()[..2]).exists());
}
