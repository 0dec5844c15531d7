//! Objects in a bucket of any S3 API, through aws-sdk-s3.
//!
//! Only what common S3-compatible servers (SeaweedFS, MinIO, Garage, R2,
//! Backblaze) all accept is used: no ACL headers, no object lock, and
//! checksums only where the API requires them (DeleteObjects), because
//! several servers reject the SDK's default CRC trailers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::Bytes;
use tokio::task::JoinSet;

use crate::{validate_key, ObjectMeta, ObjectStore, StorageError};

/// Smallest part S3 accepts (except the last one).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;
/// Largest part S3 accepts.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
const DEFAULT_PART_SIZE_MIB: u64 = 16;
const DEFAULT_MAX_ATTEMPTS: u32 = 4;
const DEFAULT_REGION: &str = "us-east-1";
/// Parts of one `put_file` in flight at once.
const PARALLEL_PARTS: usize = 4;
/// DeleteObjects takes at most this many keys.
const DELETE_BATCH: usize = 1000;

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// The S3 API's base URL, e.g. `http://127.0.0.1:8333`; `None` for AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// `http://host/bucket/key` instead of `http://bucket.host/key`;
    /// most self-hosted servers need it.
    pub path_style: bool,
    /// Static credentials; `None` uses the standard AWS chain
    /// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, web identity,
    /// container and instance roles).
    pub credentials: Option<(String, String)>,
    /// Create the bucket at start when it does not exist.
    pub create_bucket: bool,
    /// Files larger than this are uploaded in parts of this size.
    pub part_size: u64,
    /// Tries per request, the first included, with exponential backoff
    /// between them on 5xx, throttling and connection failures.
    pub max_attempts: u32,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.credentials.as_ref().map(|(id, _)| id))
            .field("create_bucket", &self.create_bucket)
            .field("part_size", &self.part_size)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    /// A config for `bucket` on AWS with every default.
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            path_style: false,
            credentials: None,
            create_bucket: false,
            part_size: DEFAULT_PART_SIZE_MIB * 1024 * 1024,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    pub fn with_credentials(mut self, access_key_id: String, secret_access_key: String) -> S3Config {
        self.credentials = Some((access_key_id, secret_access_key));
        self
    }

    /// Parses `s3://BUCKET?key=value&…`. Query keys, all optional:
    ///
    /// - `endpoint`: base URL of the S3 API (`http://127.0.0.1:8333`);
    ///   default: AWS for the region.
    /// - `region`: default `us-east-1`.
    /// - `path_style`: `true`/`false`; default `true` when `endpoint` is
    ///   set (self-hosted servers), else `false`.
    /// - `create_bucket`: `true` creates the bucket at start if missing;
    ///   default `false`.
    /// - `part_size_mib`: multipart part size, 5–5120; default 16.
    /// - `max_attempts`: tries per request, 1–10; default 4.
    ///
    /// Credentials are never part of the URL (it ends up in logs).
    pub fn from_url(url: &str) -> Result<S3Config, StorageError> {
        let invalid = |why: String| StorageError::InvalidConfig(format!("{why} in {url:?}"));
        let parsed = url::Url::parse(url).map_err(|e| invalid(format!("{e}")))?;
        if parsed.scheme() != "s3" {
            return Err(invalid("the scheme is not s3://".into()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(
                "credentials do not belong in the URL (set s3_access_key_id/s3_secret_access_key)".into(),
            ));
        }
        let bucket = parsed.host_str().unwrap_or_default().to_owned();
        if !matches!(parsed.path(), "" | "/") {
            return Err(invalid("a path after the bucket is not supported".into()));
        }
        validate_bucket(&bucket).map_err(invalid)?;
        let mut config = S3Config::new(bucket);
        let mut path_style = None;
        for (name, value) in parsed.query_pairs() {
            let flag = || match value.as_ref() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                other => Err(invalid(format!("{name}={other} is not true or false"))),
            };
            let number = |range: std::ops::RangeInclusive<u64>| match value.parse::<u64>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(invalid(format!(
                    "{name}={value} is not a number from {} to {}",
                    range.start(),
                    range.end()
                ))),
            };
            match name.as_ref() {
                "endpoint" => {
                    let endpoint = url::Url::parse(&value)
                        .ok()
                        .filter(|e| matches!(e.scheme(), "http" | "https") && e.host().is_some());
                    if endpoint.is_none() {
                        return Err(invalid(format!("endpoint={value} is not an http:// or https:// URL")));
                    }
                    config.endpoint = Some(value.trim_end_matches('/').to_owned());
                }
                "region" if !value.is_empty() => config.region = value.into_owned(),
                "path_style" => path_style = Some(flag()?),
                "create_bucket" => config.create_bucket = flag()?,
                "part_size_mib" => config.part_size = number(5..=5120)? * 1024 * 1024,
                "max_attempts" => config.max_attempts = number(1..=10)? as u32,
                other => {
                    return Err(invalid(format!(
                        "unknown setting {other:?} (known: endpoint, region, path_style, create_bucket, \
                         part_size_mib, max_attempts)"
                    )))
                }
            }
        }
        config.path_style = path_style.unwrap_or(config.endpoint.is_some());
        Ok(config)
    }

    /// Where the bucket is, for messages.
    fn location(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("bucket {} at {endpoint}", self.bucket),
            None => format!("bucket {} in AWS region {}", self.bucket, self.region),
        }
    }
}

fn validate_bucket(bucket: &str) -> Result<(), String> {
    let well_formed = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{bucket:?} is not a bucket name (3-63 lowercase letters, digits, - and ., starting and ending \
             with a letter or digit)"
        ))
    }
}

/// The S3 backend.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    config: S3Config,
}

static DOWNLOAD_COUNTER: AtomicU64 = AtomicU64::new(0);

impl S3Store {
    /// Builds the client without talking to the server.
    pub async fn new(config: S3Config) -> Result<S3Store, StorageError> {
        validate_bucket(&config.bucket).map_err(StorageError::InvalidConfig)?;
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&config.part_size) {
            return Err(StorageError::InvalidConfig(format!(
                "the part size {} is outside {MIN_PART_SIZE}..={MAX_PART_SIZE} bytes",
                config.part_size
            )));
        }
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let retry = RetryConfig::standard()
            .with_max_attempts(config.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(5));
        // No whole-operation timeout: a large part on a slow link may take
        // minutes. A dead server is caught by the connect timeout, a stuck
        // one by the read timeout and the SDK's stalled-stream protection.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .region(Region::new(config.region.clone()))
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some((id, secret)) = &config.credentials {
            loader = loader.credentials_provider(Credentials::new(id, secret, None, None, "cdlc-config"));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(S3Store { client: aws_sdk_s3::Client::from_conf(builder.build()), config })
    }

    /// Builds the client, then checks that the bucket is reachable with
    /// these credentials (creating it when `create_bucket` is set), so a
    /// wrong setting fails at start with a message that says what to fix.
    pub async fn connect(config: S3Config) -> Result<S3Store, StorageError> {
        let store = S3Store::new(config).await?;
        store.check_bucket().await?;
        Ok(store)
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    async fn check_bucket(&self) -> Result<(), StorageError> {
        let bucket = &self.config.bucket;
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => return Ok(()),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => {
                if !self.config.create_bucket {
                    return Err(self.missing_bucket());
                }
            }
            Err(e) => return Err(self.error("", e)),
        }
        let mut create = self.client.create_bucket().bucket(bucket);
        if self.config.region != DEFAULT_REGION {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(self.config.region.as_str().into())
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if e.err().is_bucket_already_owned_by_you() || e.err().is_bucket_already_exists() =>
            {
                Ok(())
            }
            Err(e) => Err(self.error("", e)),
        }
    }

    /// Maps an SDK failure to a [`StorageError`] that says what to check.
    fn error<E>(&self, key: &str, error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let key = key.to_owned();
        let location = self.config.location();
        let detail = DisplayErrorContext(&error).to_string();
        match &error {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code().unwrap_or_default();
                match (status, code) {
                    (_, "NoSuchBucket") => self.missing_bucket(),
                    (404, _) | (_, "NoSuchKey") => StorageError::NotFound(key),
                    (401 | 403, _)
                    | (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied" | "ExpiredToken") => {
                        StorageError::Rejected {
                            key,
                            message: format!(
                                "access to the {location} was denied ({status} {code}): check the access key id \
                                 and secret (s3_access_key_id/s3_secret_access_key or AWS_ACCESS_KEY_ID/\
                                 AWS_SECRET_ACCESS_KEY), the region and the key's permissions on the bucket"
                            ),
                        }
                    }
                    (501, _) | (_, "NotImplemented") => StorageError::Rejected {
                        key,
                        message: format!("the {location} does not support this request: {detail}"),
                    },
                    (429 | 500.., _) | (_, "SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout") => {
                        StorageError::Unavailable {
                            key,
                            message: format!(
                                "the {location} answered {status} {code} after {} tries; try again later",
                                self.config.max_attempts
                            ),
                        }
                    }
                    _ => StorageError::Rejected {
                        key,
                        message: format!("the {location} refused the request: {detail}"),
                    },
                }
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                StorageError::Unavailable {
                    key,
                    message: format!(
                        "cannot reach the {location} ({detail}): check the endpoint and that the server is running"
                    ),
                }
            }
            _ => StorageError::Rejected {
                key,
                message: format!(
                    "the request to the {location} could not be made ({detail}): check the credentials \
                     (s3_access_key_id/s3_secret_access_key or the AWS environment) and the endpoint"
                ),
            },
        }
    }

    /// One PutObject of `size` bytes; returns the ETag.
    async fn put_object(&self, key: &str, size: u64, body: ByteStream) -> Result<String, StorageError> {
        let output = self
            .client
            .put_object()
            .bucket(&self.config.bucket)
            .key(key)
            .content_length(size as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(output.e_tag.unwrap_or_default())
    }

    /// The body of the whole object, not yet read.
    async fn object_body(&self, key: &str) -> Result<ByteStream, StorageError> {
        validate_key(key)?;
        let output = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(output.body)
    }

    fn missing_bucket(&self) -> StorageError {
        StorageError::Rejected {
            key: String::new(),
            message: format!(
                "the {} does not exist: create it, or add create_bucket=true to the URL",
                self.config.location()
            ),
        }
    }

    fn body_error(&self, key: &str, error: impl std::fmt::Display) -> StorageError {
        StorageError::Unavailable {
            key: key.to_owned(),
            message: format!("reading from the {} broke off: {error}", self.config.location()),
        }
    }

    /// Starts a multipart upload a client fills with presigned part URLs
    /// ([`presign_part`](Self::presign_part)); returns its upload id.
    pub async fn create_multipart(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        created.upload_id.ok_or_else(|| StorageError::Rejected {
            key: key.to_owned(),
            message: format!("the {} returned no upload id", self.config.location()),
        })
    }

    /// A URL that accepts `PUT` of part `part_number` (1-based) for `expiry`;
    /// the response's ETag header is what
    /// [`complete_multipart`](Self::complete_multipart) needs.
    pub async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        expiry: Duration,
    ) -> Result<String, StorageError> {
        validate_key(key)?;
        let presigning = PresigningConfig::expires_in(expiry)
            .map_err(|e| StorageError::InvalidConfig(format!("presigned URL expiry: {e}")))?;
        let request = self
            .client
            .upload_part()
            .bucket(&self.config.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .presigned(presigning)
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(request.uri().to_owned())
    }

    /// Joins the uploaded parts (`(number, etag)`) into the object.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<ObjectMeta, StorageError> {
        validate_key(key)?;
        self.finish_multipart(key, upload_id, parts).await?;
        self.head(key).await?.ok_or_else(|| StorageError::NotFound(key.to_owned()))
    }

    /// Joins `parts` (number, ETag) into the object; returns its ETag.
    async fn finish_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<String, StorageError> {
        let mut sorted = parts.to_vec();
        sorted.sort_by_key(|(number, _)| *number);
        let completed = sorted
            .into_iter()
            .map(|(number, etag)| CompletedPart::builder().part_number(number).e_tag(etag).build())
            .collect();
        let output = self
            .client
            .complete_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(output.e_tag.unwrap_or_default())
    }

    /// Drops a multipart upload and the parts it holds.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.client
            .abort_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(())
    }

    /// Uploads `size` bytes of `path` in parts, several at a time, and
    /// aborts the upload if any part fails so no parts linger in the bucket.
    async fn put_file_multipart(&self, key: &str, path: &Path, size: u64) -> Result<String, StorageError> {
        let part_size = self.config.part_size.max(size.div_ceil(MAX_PARTS));
        let upload_id = self.create_multipart(key).await?;
        let result = async {
            let parts = self.upload_parts(key, path, size, part_size, &upload_id).await?;
            self.finish_multipart(key, &upload_id, &parts).await
        }
        .await;
        if result.is_err() {
            if let Err(abort) = self.abort_multipart(key, &upload_id).await {
                tracing::warn!(key, error = %abort, "could not abort a failed multipart upload");
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        part_size: u64,
        upload_id: &str,
    ) -> Result<Vec<(i32, String)>, StorageError> {
        let part_count = size.div_ceil(part_size);
        let mut in_flight = JoinSet::new();
        let mut parts = Vec::with_capacity(part_count as usize);
        let mut next = 0u64;
        while next < part_count || !in_flight.is_empty() {
            while next < part_count && in_flight.len() < PARALLEL_PARTS {
                let offset = next * part_size;
                let length = part_size.min(size - offset);
                let number = next as i32 + 1;
                let (store, key, path, upload_id) =
                    (self.clone(), key.to_owned(), path.to_owned(), upload_id.to_owned());
                in_flight.spawn(async move {
                    let body = ByteStream::read_from()
                        .path(&path)
                        .offset(offset)
                        .length(Length::Exact(length))
                        .build()
                        .await
                        .map_err(|e| StorageError::Io {
                            key: key.clone(),
                            source: std::io::Error::other(e),
                        })?;
                    let uploaded = store
                        .client
                        .upload_part()
                        .bucket(&store.config.bucket)
                        .key(&key)
                        .upload_id(&upload_id)
                        .part_number(number)
                        .content_length(length as i64)
                        .body(body)
                        .send()
                        .await
                        .map_err(|e| store.error(&key, e))?;
                    Ok::<_, StorageError>((number, uploaded.e_tag.unwrap_or_default()))
                });
                next += 1;
            }
            if let Some(joined) = in_flight.join_next().await {
                let part = joined.map_err(|e| StorageError::Io {
                    key: key.to_owned(),
                    source: std::io::Error::other(e),
                })??;
                parts.push(part);
            }
        }
        Ok(parts)
    }

    async fn delete_batch(&self, keys: &[String]) -> Result<usize, StorageError> {
        let objects = keys
            .iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StorageError::InvalidConfig(e.to_string()))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| StorageError::InvalidConfig(e.to_string()))?;
        let output = self
            .client
            .delete_objects()
            .bucket(&self.config.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| self.error(&keys[0], e))?;
        if let Some(failed) = output.errors.as_deref().and_then(|errors| errors.first()) {
            return Err(StorageError::Unavailable {
                key: failed.key.clone().unwrap_or_default(),
                message: format!(
                    "the {} did not delete it: {} {}",
                    self.config.location(),
                    failed.code.as_deref().unwrap_or_default(),
                    failed.message.as_deref().unwrap_or_default()
                ),
            });
        }
        Ok(keys.len())
    }
}

fn millis(time: Option<&DateTime>) -> i64 {
    time.and_then(|t| t.to_millis().ok()).unwrap_or_default()
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

/// The object's total size from a `Content-Range: bytes a-b/SIZE` header.
fn total_from_content_range(header: Option<&str>) -> Option<u64> {
    header?.rsplit('/').next()?.trim().parse().ok()
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, data: Bytes) -> Result<ObjectMeta, StorageError> {
        validate_key(key)?;
        let size = data.len() as u64;
        let etag = self.put_object(key, size, ByteStream::from(data)).await?;
        Ok(ObjectMeta { key: key.to_owned(), size, modified_ms: now_millis(), etag })
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<ObjectMeta, StorageError> {
        validate_key(key)?;
        let io_error = |source| StorageError::Io { key: key.to_owned(), source };
        let size = tokio::fs::metadata(path).await.map_err(io_error)?.len();
        let etag = if size > self.config.part_size {
            self.put_file_multipart(key, path, size).await?
        } else {
            let body = ByteStream::from_path(path).await.map_err(|e| io_error(std::io::Error::other(e)))?;
            self.put_object(key, size, body).await?
        };
        Ok(ObjectMeta { key: key.to_owned(), size, modified_ms: now_millis(), etag })
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let body = self.object_body(key).await?;
        Ok(body.collect().await.map_err(|e| self.body_error(key, e))?.into_bytes())
    }

    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, StorageError> {
        validate_key(key)?;
        // S3 cannot express an empty or reversed range; answer like the
        // local store from the object's size.
        if start >= end {
            let size = self.head(key).await?.ok_or_else(|| StorageError::NotFound(key.to_owned()))?.size;
            if start == end && end <= size {
                return Ok(Bytes::new());
            }
            return Err(StorageError::BadRange { key: key.to_owned(), start, end, size });
        }
        let result = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .range(format!("bytes={start}-{}", end - 1))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 416 => {
                let size = match total_from_content_range(e.raw().headers().get("content-range")) {
                    Some(size) => size,
                    None => self.head(key).await?.map(|m| m.size).unwrap_or_default(),
                };
                return Err(StorageError::BadRange { key: key.to_owned(), start, end, size });
            }
            Err(e) => return Err(self.error(key, e)),
        };
        // A range past the end comes back shortened, not refused.
        let size = total_from_content_range(output.content_range.as_deref());
        if size.is_some_and(|size| end > size) {
            return Err(StorageError::BadRange {
                key: key.to_owned(),
                start,
                end,
                size: size.unwrap_or_default(),
            });
        }
        let bytes = output.body.collect().await.map_err(|e| self.body_error(key, e))?.into_bytes();
        if bytes.len() as u64 != end - start {
            let size = self.head(key).await?.map(|m| m.size).unwrap_or_default();
            return Err(StorageError::BadRange { key: key.to_owned(), start, end, size });
        }
        Ok(bytes)
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        validate_key(key)?;
        match self.client.head_object().bucket(&self.config.bucket).key(key).send().await {
            Ok(output) => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: output.content_length.unwrap_or_default().max(0) as u64,
                modified_ms: millis(output.last_modified.as_ref()),
                etag: output.e_tag.unwrap_or_default(),
            })),
            Err(e) => match self.error(key, e) {
                StorageError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        // DeleteObject succeeds whether or not the key existed; the head
        // tells the caller which it was.
        let existed = self.head(key).await?.is_some();
        if existed {
            self.client
                .delete_object()
                .bucket(&self.config.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.error(key, e))?;
        }
        Ok(existed)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let mut objects = Vec::new();
        let mut continuation = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.config.bucket)
                .prefix(prefix)
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|e| self.error(prefix, e))?;
            for object in page.contents.unwrap_or_default() {
                let Some(key) = object.key.filter(|k| validate_key(k).is_ok() && k.starts_with(prefix))
                else {
                    continue;
                };
                objects.push(ObjectMeta {
                    key,
                    size: object.size.unwrap_or_default().max(0) as u64,
                    modified_ms: millis(object.last_modified.as_ref()),
                    etag: object.e_tag.unwrap_or_default(),
                });
            }
            match page.next_continuation_token {
                Some(token) if page.is_truncated == Some(true) => continuation = Some(token),
                _ => break,
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let keys: Vec<String> = self.list(prefix).await?.into_iter().map(|m| m.key).collect();
        let mut removed = 0;
        for batch in keys.chunks(DELETE_BATCH) {
            removed += match self.delete_batch(batch).await {
                Ok(count) => count,
                // Some servers lack DeleteObjects; one by one still works.
                Err(StorageError::Rejected { .. }) => {
                    let mut count = 0;
                    for key in batch {
                        count += usize::from(self.delete(key).await?);
                    }
                    count
                }
                Err(e) => return Err(e),
            };
        }
        Ok(removed)
    }

    async fn download_to(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        let body = self.object_body(key).await?;
        // Into a sibling temporary file first, so `path` never holds half
        // an object.
        let temp = sibling_temp(path);
        let copied = async {
            let mut file = tokio::fs::File::create(&temp).await?;
            let mut body = body.into_async_read();
            let copied = tokio::io::copy(&mut body, &mut file).await?;
            tokio::io::AsyncWriteExt::flush(&mut file).await?;
            file.sync_data().await?;
            tokio::fs::rename(&temp, path).await?;
            Ok::<_, std::io::Error>(copied)
        }
        .await;
        match copied {
            Ok(copied) => Ok(copied),
            Err(error) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(self.body_error(key, error))
            }
        }
    }
}

fn sibling_temp(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("download");
    path.with_file_name(format!(
        ".{name}.part-{}-{}",
        std::process::id(),
        DOWNLOAD_COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_every_setting() {
        let config = S3Config::from_url(
            "s3://media-bucket?endpoint=http://127.0.0.1:8333/&region=eu-west-1&create_bucket=true\
             &part_size_mib=8&max_attempts=2",
        )
        .expect("valid");
        assert_eq!(config.bucket, "media-bucket");
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert_eq!(config.region, "eu-west-1");
        assert!(config.path_style, "an endpoint means a self-hosted server: path style by default");
        assert!(config.create_bucket);
        assert_eq!((config.part_size, config.max_attempts), (8 * 1024 * 1024, 2));

        let aws = S3Config::from_url("s3://media").expect("valid");
        assert!(!aws.path_style && aws.endpoint.is_none() && aws.region == "us-east-1");
        assert!(
            !S3Config::from_url("s3://media?endpoint=http://h:1&path_style=false").expect("valid").path_style
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, complaint) in [
            ("s3://Bad_Bucket", "not a bucket name"),
            ("s3://ok-bucket?endpoint=ftp://x", "not an http"),
            ("s3://ok-bucket?part_size_mib=1", "from 5 to 5120"),
            ("s3://ok-bucket?colour=blue", "unknown setting"),
            ("s3://ok-bucket?path_style=yes", "not true or false"),
            ("s3://key:secret@ok-bucket", "credentials do not belong"),
            ("s3://ok-bucket/sub/dir", "path after the bucket"),
        ] {
            let error = S3Config::from_url(url).expect_err(url).to_string();
            assert!(error.contains(complaint), "{url}: {error}");
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let config = S3Config::new("b").with_credentials("id".into(), "very-secret".into());
        assert!(!format!("{config:?}").contains("very-secret"));
    }

    #[test]
    fn content_range_gives_the_size() {
        assert_eq!(total_from_content_range(Some("bytes 0-99/10000")), Some(10_000));
        assert_eq!(total_from_content_range(Some("bytes */42")), Some(42));
        assert_eq!(total_from_content_range(Some("bytes 0-1/*")), None);
    }
}
