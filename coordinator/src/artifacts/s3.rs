//! Artifacts in an S3-compatible object store, through the `object_store`
//! crate: each artifact is the object `artifacts/<ab>/<sha256>` (content
//! addressed, so every front-end writes the same bytes under the same key)
//! and each uploader an empty object `owners/<sha256>/<account>`. Uploads
//! are multipart, one part in memory at a time, so a file of any size goes up
//! in bounded memory; a multipart upload is invisible until it completes, so
//! an upload that dies leaves no object under its key (its parts are aborted
//! on error; a bucket's lifecycle rule removes those of a killed process).
//! Reads stream. The sealing rules are the API's and apply unchanged: this
//! store only keeps bytes.
//!
//! The HTTP client is hyper's, on the caller's runtime ([`HyperConnector`]),
//! and SHA-256/HMAC come from the RustCrypto crates ([`RustCrypto`]):
//! plain-HTTP endpoints only for now (an object store on the operator's own
//! network, or behind a TLS-terminating proxy).

use std::str::FromStr;
use std::sync::Arc;

use bounties::{AccountId, Hash32};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{
    ClientOptions, CryptoProvider, DigestAlgorithm, DigestContext, HmacContext, HttpClient,
    HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpResponseBody,
    HttpService, Signer, SigningAlgorithm,
};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncReadExt;

use super::{Artifact, ArtifactError, ArtifactStore, BoxFuture, Staged};

/// The size of each part of a multipart upload (S3's least is 5 MiB).
pub const PART_BYTES: usize = 8 << 20;

/// Where a bucket is and how to reach it: `s3://BUCKET?endpoint=URL`
/// (`&region=R`, default `us-east-1`). Credentials come from the usual
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketUrl {
    /// The bucket.
    pub bucket: String,
    /// The endpoint (`http://host:port`).
    pub endpoint: String,
    /// The region signed for.
    pub region: String,
}

impl FromStr for BucketUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s:?}: an S3 location is s3://BUCKET?endpoint=URL"))?;
        let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
        if bucket.is_empty() || bucket.contains('/') {
            return Err(format!("{s:?}: name one bucket, s3://BUCKET?endpoint=URL"));
        }
        let (mut endpoint, mut region) = (None, "us-east-1".to_owned());
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("endpoint", v)) => endpoint = Some(v.to_owned()),
                Some(("region", v)) => region = v.to_owned(),
                _ => {
                    return Err(format!(
                        "{s:?}: unknown setting {pair:?} (endpoint=, region=)"
                    ));
                }
            }
        }
        let endpoint = endpoint.ok_or_else(|| format!("{s:?}: say ?endpoint=http://HOST:PORT"))?;
        if !endpoint.starts_with("http://") {
            return Err(format!(
                "{s:?}: the endpoint must be http:// (TLS to the object store is not built in yet)"
            ));
        }
        Ok(BucketUrl {
            bucket: bucket.to_owned(),
            endpoint,
            region,
        })
    }
}

/// Artifacts in an S3 bucket.
#[derive(Debug)]
pub struct S3Artifacts {
    store: Arc<AmazonS3>,
}

fn remote(e: object_store::Error) -> ArtifactError {
    ArtifactError::Remote(Box::new(e))
}

impl S3Artifacts {
    /// The bucket at `url`, with the credentials in the environment (or
    /// `keys`, an access key id and secret, when given).
    pub fn open(url: &BucketUrl, keys: Option<(&str, &str)>) -> Result<S3Artifacts, ArtifactError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            .with_endpoint(&url.endpoint)
            .with_region(&url.region)
            .with_allow_http(true)
            .with_http_connector(HyperConnector)
            .with_crypto_provider(Arc::new(RustCrypto));
        if let Some((id, secret)) = keys {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        Ok(S3Artifacts {
            store: Arc::new(builder.build().map_err(remote)?),
        })
    }

    fn key(hash: Hash32) -> Path {
        let hex = hash.to_hex();
        Path::from(format!("artifacts/{}/{hex}", &hex[..2]))
    }

    fn owners_prefix(hash: Hash32) -> Path {
        Path::from(format!("owners/{}", hash.to_hex()))
    }

    async fn record_owner(&self, hash: Hash32, owner: AccountId) -> Result<(), ArtifactError> {
        let key = Self::owners_prefix(hash).join(owner.to_hex());
        self.store
            .put(&key, PutPayload::new())
            .await
            .map_err(remote)?;
        Ok(())
    }

    /// Send the staged file as a multipart upload, one part at a time.
    async fn upload(&self, hash: Hash32, staged: &Staged) -> Result<(), ArtifactError> {
        let mut file = tokio::fs::File::open(staged.path()).await?;
        let mut upload = self
            .store
            .put_multipart(&Self::key(hash))
            .await
            .map_err(remote)?;
        let sent = async {
            loop {
                let mut part = Vec::with_capacity(PART_BYTES);
                (&mut file)
                    .take(PART_BYTES as u64)
                    .read_to_end(&mut part)
                    .await?;
                let last = part.len() < PART_BYTES;
                if !part.is_empty() {
                    upload
                        .put_part(PutPayload::from(Bytes::from(part)))
                        .await
                        .map_err(remote)?;
                }
                if last {
                    return Ok::<_, ArtifactError>(());
                }
            }
        }
        .await;
        match sent {
            Ok(()) => {
                upload.complete().await.map_err(remote)?;
                Ok(())
            }
            Err(e) => {
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(%hash, error = %abort, "could not abort a failed multipart upload");
                }
                Err(e)
            }
        }
    }
}

impl ArtifactStore for S3Artifacts {
    fn size(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<u64>, ArtifactError>> {
        Box::pin(async move {
            match self.store.head(&Self::key(hash)).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(remote(e)),
            }
        })
    }

    fn put(
        &self,
        hash: Hash32,
        staged: Staged,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        Box::pin(async move {
            // The owner first: an owner of an absent artifact is harmless,
            // an artifact without its owner is not.
            self.record_owner(hash, owner).await?;
            if self.size(hash).await?.is_some() {
                return Ok(());
            }
            self.upload(hash, &staged).await
        })
    }

    fn add_owner(
        &self,
        hash: Hash32,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        Box::pin(self.record_owner(hash, owner))
    }

    fn owners(&self, hash: Hash32) -> BoxFuture<'_, Result<Vec<AccountId>, ArtifactError>> {
        Box::pin(async move {
            let prefix = Self::owners_prefix(hash);
            let listed: Vec<_> = self
                .store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(remote)?;
            let mut owners: Vec<AccountId> = listed
                .iter()
                .filter_map(|meta| meta.location.filename()?.parse().ok())
                .collect();
            owners.sort();
            owners.dedup();
            Ok(owners)
        })
    }

    fn read(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<Artifact>, ArtifactError>> {
        Box::pin(async move {
            let got = match self.store.get(&Self::key(hash)).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(remote(e)),
            };
            let size = got.meta.size;
            let body = got.into_stream().map_err(std::io::Error::other).boxed();
            Ok(Some(Artifact { size, body }))
        })
    }
}

/// `object_store`'s HTTP through hyper's pooled client (plain HTTP).
#[derive(Debug, Clone, Copy)]
pub struct HyperConnector;

impl HttpConnector for HyperConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(HttpClient::new(Hyper(client)))
    }
}

#[derive(Debug)]
struct Hyper(
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        object_store::client::HttpRequestBody,
    >,
);

#[async_trait::async_trait]
impl HttpService for Hyper {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = self.0.request(req).await.map_err(|e| {
            let kind = if e.is_connect() {
                HttpErrorKind::Connect
            } else {
                HttpErrorKind::Request
            };
            HttpError::new(kind, e)
        })?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::BodyExt::map_err(body, |e| {
            HttpError::new(HttpErrorKind::Interrupted, e)
        });
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}

/// SHA-256 and HMAC-SHA256 from the RustCrypto crates (the project's own),
/// for request signing; no RSA (a GCP need, not S3's).
#[derive(Debug, Clone, Copy)]
pub struct RustCrypto;

struct Digest(Option<sha2::Sha256>, Vec<u8>);

impl DigestContext for Digest {
    fn update(&mut self, data: &[u8]) {
        if let Some(d) = &mut self.0 {
            sha2::Digest::update(d, data);
        }
    }
    fn finish(&mut self) -> object_store::Result<&[u8]> {
        if let Some(d) = self.0.take() {
            self.1 = sha2::Digest::finalize(d).to_vec();
        }
        Ok(&self.1)
    }
}

struct Hmac(Option<hmac::Hmac<sha2::Sha256>>, Vec<u8>);

impl HmacContext for Hmac {
    fn update(&mut self, data: &[u8]) {
        if let Some(m) = &mut self.0 {
            hmac::Mac::update(m, data);
        }
    }
    fn finish(&mut self) -> object_store::Result<&[u8]> {
        if let Some(m) = self.0.take() {
            self.1 = hmac::Mac::finalize(m).into_bytes().to_vec();
        }
        Ok(&self.1)
    }
}

impl CryptoProvider for RustCrypto {
    fn digest(&self, algorithm: DigestAlgorithm) -> object_store::Result<Box<dyn DigestContext>> {
        match algorithm {
            DigestAlgorithm::Sha256 => Ok(Box::new(Digest(Some(sha2::Digest::new()), Vec::new()))),
            _ => Err(unsupported("this digest")),
        }
    }

    fn hmac(
        &self,
        algorithm: DigestAlgorithm,
        secret: &[u8],
    ) -> object_store::Result<Box<dyn HmacContext>> {
        match algorithm {
            DigestAlgorithm::Sha256 => {
                let mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret)
                    .map_err(|_| unsupported("an HMAC key of this length"))?;
                Ok(Box::new(Hmac(Some(mac), Vec::new())))
            }
            _ => Err(unsupported("this HMAC")),
        }
    }

    fn sign(
        &self,
        _algorithm: SigningAlgorithm,
        _pem: &[u8],
    ) -> object_store::Result<Box<dyn Signer>> {
        Err(unsupported("RSA signing"))
    }
}

fn unsupported(what: &str) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!("{what} is not supported by the coordinator's S3 client").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::BucketUrl;

    #[test]
    fn a_bucket_url_names_its_bucket_and_endpoint() {
        let url: BucketUrl = "s3://models?endpoint=http://127.0.0.1:9000&region=eu-west-1"
            .parse()
            .unwrap();
        assert_eq!(url.bucket, "models");
        assert_eq!(url.endpoint, "http://127.0.0.1:9000");
        assert_eq!(url.region, "eu-west-1");
        for bad in [
            "models",
            "s3://?endpoint=http://h",
            "s3://a/b?endpoint=http://h",
            "s3://m",
            "s3://m?endpoint=https://h",
            "s3://m?endpoint=http://h&acl=public",
        ] {
            assert!(bad.parse::<BucketUrl>().is_err(), "{bad}");
        }
    }
}
