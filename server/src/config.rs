//! `cdlc serve` settings: defaults, then a TOML file, then `CDLC_*`
//! environment variables, then command-line flags; validated at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// How long a claimed job stays ours without a heartbeat (embedded queue;
/// the NATS ack wait has the same default).
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// Every setting of `cdlc serve`. Each has a default; see `docs/config.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on. Env: CDLC_LISTEN.
    pub listen: SocketAddr,
    /// Directory of the embedded backends: objects/, cdlc.db, uploads/. Env: CDLC_DATA_DIR.
    pub data_dir: PathBuf,
    /// Bearer token for uploads and deletes. When unset, one is generated on
    /// first start, stored in DATA_DIR/admin-token and printed. Env: CDLC_ADMIN_TOKEN.
    pub admin_token: Option<String>,
    /// Largest upload accepted, in bytes. Env: CDLC_MAX_UPLOAD_BYTES.
    pub max_upload_bytes: u64,
    /// Transcoding workers in this process (0 runs none). With a NATS queue
    /// they pull from the shared queue like any `cdlc worker`. Env: CDLC_WORKERS.
    pub workers: usize,
    /// Where jobs wait for workers: `embedded` (in the metadata store, for
    /// this process's workers only) or `nats://HOST:PORT` (a NATS server
    /// with JetStream, shared by every `cdlc serve` and `cdlc worker`). Env: CDLC_QUEUE.
    pub queue: String,
    /// Attempts of a job before its asset is errored. Env: CDLC_MAX_ATTEMPTS.
    pub max_attempts: u32,
    /// Segment and GOP duration in seconds. Env: CDLC_SEGMENT_DURATION.
    pub segment_duration: f64,
    /// Length of the first segment in seconds, shorter than the others so
    /// a stream becomes playable sooner; 0 makes it as long as the others.
    /// Env: CDLC_FIRST_SEGMENT_DURATION.
    pub first_segment_duration: f64,
    /// Whether each surround audio track also gets a 5.1 rendition (beside
    /// its stereo one, which every browser plays). Env: CDLC_KEEP_SURROUND.
    pub keep_surround: bool,
    /// x264 speed preset. Env: CDLC_X264_PRESET.
    pub x264_preset: String,
    /// Largest resident memory of one transcode's child process, in bytes;
    /// a child above it is stopped and its job fails. Env: CDLC_TRANSCODE_MEMORY_BYTES.
    pub transcode_memory_bytes: u64,
    /// Seconds a transcode may go without progress before its child is
    /// stopped, whatever the cause. Env: CDLC_TRANSCODE_STALL_SECONDS.
    pub transcode_stall_seconds: u64,
    /// URL that receives a POST when an asset is ready or errored. Env: CDLC_WEBHOOK_URL.
    pub webhook_url: Option<String>,
    /// Key of the HMAC-SHA256 in each webhook's `Cdlc-Signature` header;
    /// required with webhook_url. Env: CDLC_WEBHOOK_SECRET.
    pub webhook_secret: Option<String>,
    /// Metadata store: `sqlite:///absolute/path.db` (embedded; unset means
    /// DATA_DIR/cdlc.db) or `scylla://host:9042,…/keyspace?replication_factor=1`
    /// (a ScyllaDB cluster; URL keys in cdlc_metadata::ScyllaUrl). Env: CDLC_METADATA.
    pub metadata: Option<String>,
    /// Byte budget of the edge's memory tier. Env: CDLC_EDGE_MEMORY_BYTES.
    pub edge_memory_bytes: u64,
    /// Byte budget of the edge's disk tier in DATA_DIR/edge-cache; 0 runs
    /// with memory only. Env: CDLC_EDGE_DISK_BYTES.
    pub edge_disk_bytes: u64,
    /// Keys of signed URLs for private assets, `ID:SECRET[,ID:SECRET]`; the
    /// first signs, all verify (rotation). When unset, one key is generated
    /// into DATA_DIR/signing-keys. Env: CDLC_SIGNING_KEYS.
    pub signing_keys: Option<String>,
    /// Master key (64 hex digits, AES-256) that wraps the content keys of
    /// encrypted assets. When unset, one is generated into
    /// DATA_DIR/encryption-master-key; servers sharing objects must share it.
    /// Env: CDLC_ENCRYPTION_MASTER_KEY.
    pub encryption_master_key: Option<String>,
    /// Master keys that only unwrap (rotation), comma-separated 64 hex digits
    /// each; a key read under one of them is wrapped again under
    /// encryption_master_key. Env: CDLC_ENCRYPTION_PREVIOUS_MASTER_KEYS.
    pub encryption_previous_master_keys: String,
    /// Life of the signed playback URLs given to the admin, in seconds.
    /// Env: CDLC_SIGNED_URL_SECONDS.
    pub signed_url_seconds: u64,
    /// Where objects (sources, segments, playlists) live: `file:///path` or
    /// `s3://BUCKET?endpoint=…&region=…&path_style=…&create_bucket=…` (see
    /// the README). Unset: `file://DATA_DIR/objects`. Env: CDLC_OBJECTS.
    pub objects: Option<String>,
    /// Access key id for an `s3://` objects store; unset uses the standard
    /// AWS chain (AWS_ACCESS_KEY_ID, ~/.aws, roles). Env: CDLC_S3_ACCESS_KEY_ID.
    pub s3_access_key_id: Option<String>,
    /// Secret that goes with s3_access_key_id. Env: CDLC_S3_SECRET_ACCESS_KEY.
    pub s3_secret_access_key: Option<String>,
    /// Where accounts and every plugin keep their tables: `sqlite:///DIR`
    /// (one SQLite file per bounded context, `DIR/accounts.db`,
    /// `DIR/{plugin}.db`) or `mysql://USER:PASSWORD@HOST:PORT/PREFIX` (MySQL
    /// 8 / MariaDB 10.11, the database `PREFIX_accounts`, `PREFIX_{plugin}`).
    /// Unset: DATA_DIR/stores. Env: CDLC_STORES.
    pub stores: Option<String>,
    /// The `[accounts]` section: sign-up, sessions, the cookie.
    pub accounts: AccountsSettings,
    /// The `[plugins.NAME]` sections, one per built-in plugin, handed to the
    /// plugin as they are (`enabled = false` leaves it out). A section
    /// naming no built-in plugin stops the server.
    pub plugins: toml::Table,
}

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Anyone, as a viewer.
    Open,
    /// Only with an invite code an admin made.
    Invite,
    /// Nobody: an admin (or the root token) changes roles of existing accounts only.
    Closed,
}

impl Signup {
    fn parse(text: &str) -> Option<Signup> {
        match text {
            "open" => Some(Signup::Open),
            "invite" => Some(Signup::Invite),
            "closed" => Some(Signup::Closed),
            _ => None,
        }
    }
}

/// The `[accounts]` section. The root credential is `admin_token`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsSettings {
    /// `open` (anyone signs up, as a viewer), `invite` (with an admin's
    /// invite code) or `closed`. Env: CDLC_SIGNUP.
    pub signup: Signup,
    /// Mark the web UI's session cookie `Secure`: set it when the server is
    /// reached over HTTPS. Env: CDLC_COOKIE_SECURE.
    pub cookie_secure: bool,
    /// A session unused this many hours expires (each use renews it).
    /// Env: CDLC_SESSION_IDLE_HOURS.
    pub session_idle_hours: u64,
    /// A session expires this many days after sign-in however much it is
    /// used. Env: CDLC_SESSION_MAX_DAYS.
    pub session_max_days: u64,
    /// Take the client's address for the sign-in limits from the last
    /// `X-Forwarded-For` entry: only behind a proxy you run.
    /// Env: CDLC_TRUST_FORWARDED_FOR.
    pub trust_forwarded_for: bool,
}

impl Default for AccountsSettings {
    fn default() -> Self {
        AccountsSettings {
            signup: Signup::Open,
            cookie_secure: false,
            session_idle_hours: 14 * 24,
            session_max_days: 90,
            trust_forwarded_for: false,
        }
    }
}

impl AccountsSettings {
    fn validate(&self) -> anyhow::Result<()> {
        if !(1..=24 * 365).contains(&self.session_idle_hours) {
            bail!("accounts.session_idle_hours must be between 1 and 8760 (a year)");
        }
        if !(1..=365).contains(&self.session_max_days) {
            bail!("accounts.session_max_days must be between 1 and 365");
        }
        if self.session_idle_hours > self.session_max_days * 24 {
            bail!("accounts.session_idle_hours must not be longer than accounts.session_max_days");
        }
        Ok(())
    }

    /// The accounts service's settings, with `root_token` as the bootstrap
    /// root credential.
    pub fn accounts_config(&self, root_token: String) -> cdlc_accounts::AccountsConfig {
        use std::time::Duration;
        cdlc_accounts::AccountsConfig {
            signup: match self.signup {
                Signup::Open => cdlc_accounts::SignupPolicy::Open,
                Signup::Invite => cdlc_accounts::SignupPolicy::InviteOnly,
                Signup::Closed => cdlc_accounts::SignupPolicy::Closed,
            },
            session_idle: Duration::from_secs(self.session_idle_hours * 3600),
            session_max: Duration::from_secs(self.session_max_days * 86_400),
            secure_cookie: self.cookie_secure,
            root_token: Some(root_token),
            trust_forwarded_for: self.trust_forwarded_for,
            ..cdlc_accounts::AccountsConfig::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            admin_token: None,
            max_upload_bytes: 20 << 30,
            workers: 1,
            queue: "embedded".into(),
            max_attempts: 3,
            segment_duration: 2.0,
            first_segment_duration: cdlc_transcoder::ladder::DEFAULT_FIRST_SEGMENT.as_secs_f64(),
            keep_surround: false,
            x264_preset: cdlc_transcoder::DEFAULT_X264_PRESET.into(),
            transcode_memory_bytes: cdlc_isolation::DEFAULT_MEMORY_BYTES,
            transcode_stall_seconds: cdlc_isolation::DEFAULT_STALL.as_secs(),
            webhook_url: None,
            webhook_secret: None,
            metadata: None,
            edge_memory_bytes: cdlc_edge::settings::DEFAULT_MEMORY_BYTES,
            edge_disk_bytes: 0,
            signing_keys: None,
            encryption_master_key: None,
            encryption_previous_master_keys: String::new(),
            signed_url_seconds: 6 * 3600,
            objects: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            stores: None,
            accounts: AccountsSettings::default(),
            plugins: toml::Table::new(),
        }
    }
}

fn parse_env<T: std::str::FromStr>(name: &str, value: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| anyhow::anyhow!("{name}={value:?} is not valid: {e}"))
}

impl Config {
    /// The settings of a command: the file, then the process's `CDLC_*`
    /// environment, then the command's flags (`flags` writes them), validated.
    pub fn for_command(file: Option<&Path>, flags: impl FnOnce(&mut Config)) -> anyhow::Result<Config> {
        let mut config = Config::load(file, |name| std::env::var(name).ok())?;
        flags(&mut config);
        config.validate().context("the configuration is not valid")?;
        Ok(config)
    }

    /// The shared NATS JetStream queue `queue` names, with leases as long as
    /// the workers' and as many deliveries as `max_attempts`.
    pub async fn connect_nats(&self) -> anyhow::Result<cdlc_queue::NatsQueue> {
        let settings = cdlc_queue::NatsSettings { ack_wait: LEASE, max_attempts: self.max_attempts };
        Ok(cdlc_queue::NatsQueue::connect(&self.queue, settings).await?)
    }

    /// The settings a TOML text gives (unnamed fields keep their defaults;
    /// an unknown field is an error that names it). Not yet validated.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    /// Reads `file` (if given) and the environment; not yet validated.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config {}", path.display()))?;
                Config::parse(&text).with_context(|| format!("config {} is not valid", path.display()))?
            }
            None => Config::default(),
        };
        if let Some(v) = env("CDLC_LISTEN") {
            config.listen = parse_env("CDLC_LISTEN", &v)?;
        }
        if let Some(v) = env("CDLC_DATA_DIR") {
            config.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("CDLC_ADMIN_TOKEN") {
            config.admin_token = Some(v);
        }
        if let Some(v) = env("CDLC_MAX_UPLOAD_BYTES") {
            config.max_upload_bytes = parse_env("CDLC_MAX_UPLOAD_BYTES", &v)?;
        }
        if let Some(v) = env("CDLC_WORKERS") {
            config.workers = parse_env("CDLC_WORKERS", &v)?;
        }
        if let Some(v) = env("CDLC_QUEUE") {
            config.queue = v;
        }
        if let Some(v) = env("CDLC_MAX_ATTEMPTS") {
            config.max_attempts = parse_env("CDLC_MAX_ATTEMPTS", &v)?;
        }
        if let Some(v) = env("CDLC_SEGMENT_DURATION") {
            config.segment_duration = parse_env("CDLC_SEGMENT_DURATION", &v)?;
        }
        if let Some(v) = env("CDLC_FIRST_SEGMENT_DURATION") {
            config.first_segment_duration = parse_env("CDLC_FIRST_SEGMENT_DURATION", &v)?;
        }
        if let Some(v) = env("CDLC_KEEP_SURROUND") {
            config.keep_surround = parse_env("CDLC_KEEP_SURROUND", &v)?;
        }
        if let Some(v) = env("CDLC_X264_PRESET") {
            config.x264_preset = v;
        }
        if let Some(v) = env("CDLC_TRANSCODE_MEMORY_BYTES") {
            config.transcode_memory_bytes = parse_env("CDLC_TRANSCODE_MEMORY_BYTES", &v)?;
        }
        if let Some(v) = env("CDLC_TRANSCODE_STALL_SECONDS") {
            config.transcode_stall_seconds = parse_env("CDLC_TRANSCODE_STALL_SECONDS", &v)?;
        }
        if let Some(v) = env("CDLC_WEBHOOK_URL") {
            config.webhook_url = Some(v);
        }
        if let Some(v) = env("CDLC_WEBHOOK_SECRET") {
            config.webhook_secret = Some(v);
        }
        if let Some(v) = env("CDLC_METADATA") {
            config.metadata = Some(v);
        }
        if let Some(v) = env("CDLC_EDGE_MEMORY_BYTES") {
            config.edge_memory_bytes = parse_env("CDLC_EDGE_MEMORY_BYTES", &v)?;
        }
        if let Some(v) = env("CDLC_EDGE_DISK_BYTES") {
            config.edge_disk_bytes = parse_env("CDLC_EDGE_DISK_BYTES", &v)?;
        }
        if let Some(v) = env("CDLC_SIGNING_KEYS") {
            config.signing_keys = Some(v);
        }
        if let Some(v) = env("CDLC_ENCRYPTION_MASTER_KEY") {
            config.encryption_master_key = Some(v);
        }
        if let Some(v) = env("CDLC_ENCRYPTION_PREVIOUS_MASTER_KEYS") {
            config.encryption_previous_master_keys = v;
        }
        if let Some(v) = env("CDLC_SIGNED_URL_SECONDS") {
            config.signed_url_seconds = parse_env("CDLC_SIGNED_URL_SECONDS", &v)?;
        }
        if let Some(v) = env("CDLC_OBJECTS") {
            config.objects = Some(v);
        }
        if let Some(v) = env("CDLC_S3_ACCESS_KEY_ID") {
            config.s3_access_key_id = Some(v);
        }
        if let Some(v) = env("CDLC_S3_SECRET_ACCESS_KEY") {
            config.s3_secret_access_key = Some(v);
        }
        if let Some(v) = env("CDLC_STORES") {
            config.stores = Some(v);
        }
        if let Some(v) = env("CDLC_SIGNUP") {
            config.accounts.signup = Signup::parse(&v).ok_or_else(|| {
                anyhow::anyhow!("CDLC_SIGNUP={v:?} is not valid: use open, invite or closed")
            })?;
        }
        if let Some(v) = env("CDLC_COOKIE_SECURE") {
            config.accounts.cookie_secure = parse_env("CDLC_COOKIE_SECURE", &v)?;
        }
        if let Some(v) = env("CDLC_SESSION_IDLE_HOURS") {
            config.accounts.session_idle_hours = parse_env("CDLC_SESSION_IDLE_HOURS", &v)?;
        }
        if let Some(v) = env("CDLC_SESSION_MAX_DAYS") {
            config.accounts.session_max_days = parse_env("CDLC_SESSION_MAX_DAYS", &v)?;
        }
        if let Some(v) = env("CDLC_TRUST_FORWARDED_FOR") {
            config.accounts.trust_forwarded_for = parse_env("CDLC_TRUST_FORWARDED_FOR", &v)?;
        }
        Ok(config)
    }

    /// Checks every field; the message names the field and what to set.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(token) = &self.admin_token {
            if token.len() < 16 {
                bail!("admin_token must be at least 16 characters");
            }
        }
        if self.max_upload_bytes == 0 {
            bail!("max_upload_bytes must be above 0");
        }
        if self.workers > 64 {
            bail!("workers must be 64 or fewer");
        }
        if self.queue != "embedded" && !self.queue.starts_with("nats://") {
            bail!("queue must be `embedded` or a NATS URL such as nats://127.0.0.1:4222");
        }
        if !(1..=20).contains(&self.max_attempts) {
            bail!("max_attempts must be between 1 and 20");
        }
        if !(0.5..=20.0).contains(&self.segment_duration) {
            bail!("segment_duration must be between 0.5 and 20 seconds");
        }
        if !(0.0..=20.0).contains(&self.first_segment_duration) {
            bail!("first_segment_duration must be between 0 (as long as the others) and 20 seconds");
        }
        if !(256 << 20..=1 << 40).contains(&self.transcode_memory_bytes) {
            bail!("transcode_memory_bytes must be between 268435456 (256 MiB) and 1099511627776 (1 TiB)");
        }
        if !(10..=86400).contains(&self.transcode_stall_seconds) {
            bail!("transcode_stall_seconds must be between 10 and 86400");
        }
        if let Some(url) = &self.webhook_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("webhook_url must start with http:// or https://");
            }
            if self.webhook_secret.as_ref().is_none_or(|s| s.len() < 16) {
                bail!("webhook_secret of at least 16 characters is required with webhook_url");
            }
        }
        if let Some(url) = &self.metadata {
            validate_metadata_url(url)?;
        }
        if let Some(keys) = &self.signing_keys {
            cdlc_edge::SigningKeys::parse(keys).context("signing_keys is not valid")?;
        }
        // Checked with a stand-in when unset (a generated key is valid).
        let current = self.encryption_master_key.clone().unwrap_or_else(|| "00".repeat(32));
        crate::key_wrap::MasterKeys::parse(&current, &self.encryption_previous_master_keys)?;
        if !(60..=30 * 24 * 3600).contains(&self.signed_url_seconds) {
            bail!("signed_url_seconds must be between 60 and 2592000 (30 days)");
        }
        self.edge_settings(None, None)
            .validate()
            .context("edge_memory_bytes or edge_disk_bytes is not valid")?;
        if !cdlc_transcoder::X264_PRESETS.contains(&self.x264_preset.as_str()) {
            bail!("x264_preset must be one of {}", cdlc_transcoder::X264_PRESETS.join(", "));
        }
        self.object_store()?;
        if let Some(url) = &self.stores {
            if url.starts_with("mysql://") {
                cdlc_plugin_store::Stores::open(url).map_err(|e| anyhow::anyhow!("stores: {e}"))?;
            } else if !url.starts_with("sqlite:///") {
                bail!(
                    "stores {url:?} must be sqlite:///absolute/dir or mysql://USER:PASSWORD@HOST:PORT/PREFIX"
                );
            }
        }
        self.accounts.validate()?;
        for (name, section) in &self.plugins {
            if !section.is_table() {
                bail!("plugins.{name} must be a table: write it as a [plugins.{name}] section");
            }
        }
        Ok(())
    }

    /// Where accounts and plugins keep their tables.
    pub fn stores_url(&self) -> String {
        match &self.stores {
            Some(url) => url.clone(),
            None => {
                let dir = self.data_dir.join("stores");
                let dir = std::path::absolute(&dir).unwrap_or(dir);
                format!("sqlite://{}", dir.display())
            }
        }
    }

    /// Which object store `objects` names.
    pub fn object_store(&self) -> anyhow::Result<ObjectStoreSetting> {
        let credentials = match (&self.s3_access_key_id, &self.s3_secret_access_key) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                Some((id.clone(), secret.clone()))
            }
            (None, None) => None,
            _ => bail!(
                "set both s3_access_key_id and s3_secret_access_key, or neither (to use the AWS environment)"
            ),
        };
        let setting = match self.objects.as_deref() {
            None | Some("") => ObjectStoreSetting::Local(self.data_dir.join("objects")),
            Some(url) if url.starts_with("file://") => match url.strip_prefix("file://") {
                Some(path) if path.starts_with('/') => ObjectStoreSetting::Local(PathBuf::from(path)),
                _ => bail!("objects = {url:?} is not an absolute file URL: write file:///absolute/path"),
            },
            Some(url) if url.starts_with("s3://") => {
                let mut s3 =
                    cdlc_storage::S3Config::from_url(url).context("objects is not a valid s3:// URL")?;
                if let Some((id, secret)) = credentials.clone() {
                    s3 = s3.with_credentials(id, secret);
                }
                ObjectStoreSetting::S3(s3)
            }
            Some(url) => {
                bail!("objects = {url:?} names no object store: use file:///path or s3://bucket?endpoint=…")
            }
        };
        if credentials.is_some() && matches!(setting, ObjectStoreSetting::Local(_)) {
            bail!("s3_access_key_id is set but objects is not an s3:// URL");
        }
        Ok(setting)
    }
}

/// The object store the `objects` setting names.
#[derive(Debug, Clone)]
pub enum ObjectStoreSetting {
    /// A directory (the embedded default).
    Local(PathBuf),
    S3(cdlc_storage::S3Config),
}

impl Config {
    /// The metadata URL of the config, or the embedded default under DATA_DIR.
    pub fn metadata_url(&self) -> String {
        match &self.metadata {
            Some(url) => url.clone(),
            None => {
                let path = std::path::absolute(self.data_dir.join("cdlc.db"))
                    .unwrap_or_else(|_| self.data_dir.join("cdlc.db"));
                format!("sqlite://{}", path.display())
            }
        }
    }

    /// The settings of the edge mounted in `cdlc serve`.
    pub fn edge_settings(
        &self,
        signing_keys: Option<cdlc_edge::SigningKeys>,
        admin_token: Option<String>,
    ) -> cdlc_edge::EdgeSettings {
        let defaults = cdlc_edge::EdgeSettings::default();
        cdlc_edge::EdgeSettings {
            memory_bytes: self.edge_memory_bytes,
            max_object_bytes: defaults.max_object_bytes.min(self.edge_memory_bytes / 4),
            disk_dir: (self.edge_disk_bytes > 0).then(|| self.data_dir.join("edge-cache")),
            disk_bytes: self.edge_disk_bytes,
            signing_keys: signing_keys.unwrap_or_default(),
            admin_token,
            ..defaults
        }
    }
}

fn validate_metadata_url(url: &str) -> anyhow::Result<()> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if !path.starts_with('/') || path.len() < 2 {
            bail!("metadata {url:?} needs an absolute file path: sqlite:///var/lib/cdlc/cdlc.db");
        }
        return Ok(());
    }
    if url.starts_with("scylla://") {
        cdlc_metadata::ScyllaUrl::parse(url).map_err(|e| anyhow::anyhow!("metadata: {e}"))?;
        return Ok(());
    }
    bail!("metadata {url:?} must start with sqlite:/// or scylla://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_then_validation() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("cdlc.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nworkers = 3\n").expect("write");
        let env = |name: &str| (name == "CDLC_WORKERS").then(|| "2".to_owned());
        let config = Config::load(Some(&file), env).expect("load");
        assert_eq!(config.listen.port(), 9000, "from the file");
        assert_eq!(config.workers, 2, "the environment wins over the file");
        assert_eq!(config.max_attempts, 3, "the default where neither says");
        config.validate().expect("valid");
    }

    #[test]
    fn mistakes_name_the_field() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("cdlc.toml");
        std::fs::write(&file, "wrokers = 3\n").expect("write");
        let error = format!("{:#}", Config::load(Some(&file), |_| None).unwrap_err());
        assert!(error.contains("wrokers"), "{error}");
        let error = Config::load(None, |n| (n == "CDLC_WORKERS").then(|| "many".into())).unwrap_err();
        assert!(error.to_string().contains("CDLC_WORKERS"), "{error}");
        let config = Config { segment_duration: 99.0, ..Config::default() };
        assert!(config.validate().unwrap_err().to_string().contains("segment_duration"));
        let config = Config { queue: "redis://x".into(), ..Config::default() };
        assert!(config.validate().unwrap_err().to_string().contains("queue"));
        let config =
            Config::load(None, |n| (n == "CDLC_ENCRYPTION_MASTER_KEY").then(|| "abc".into())).unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("encryption_master_key must be 64 hexadecimal digits"), "{error}");
    }

    #[test]
    fn accounts_and_plugins_sections() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("cdlc.toml");
        std::fs::write(
            &file,
            "[accounts]\nsignup = \"invite\"\nsession_max_days = 30\n\n[plugins.guestbook]\nenabled = true\nmax_message = 20\n",
        )
        .expect("write");
        let env = |name: &str| (name == "CDLC_COOKIE_SECURE").then(|| "true".to_owned());
        let config = Config::load(Some(&file), env).expect("load");
        config.validate().expect("valid");
        assert_eq!(config.accounts.signup, Signup::Invite);
        assert!(config.accounts.cookie_secure, "from the environment");
        let accounts = config.accounts.accounts_config("root-token-0123456789".into());
        assert_eq!(accounts.session_max.as_secs(), 30 * 86_400);
        assert_eq!(accounts.signup, cdlc_accounts::SignupPolicy::InviteOnly);
        assert_eq!(config.plugins["guestbook"]["max_message"].as_integer(), Some(20));

        for (text, complaint) in [
            ("[accounts]\nsignup = \"maybe\"\n", "signup"),
            ("[accounts]\nsesion_max_days = 3\n", "sesion_max_days"),
            ("[accounts]\nsession_max_days = 0\n", "accounts.session_max_days"),
            ("[accounts]\nsession_idle_hours = 100\nsession_max_days = 1\n", "session_idle_hours"),
            ("plugins = { guestbook = 3 }\n", "[plugins.guestbook]"),
            ("stores = \"mysql://db\"\n", "stores"),
            ("stores = \"postgres://u:p@db/cdlc\"\n", "mysql://USER:PASSWORD@HOST:PORT/PREFIX"),
        ] {
            std::fs::write(&file, text).expect("write");
            let error = match Config::load(Some(&file), |_| None) {
                Err(error) => format!("{error:#}"),
                Ok(config) => format!("{:#}", config.validate().unwrap_err()),
            };
            assert!(error.contains(complaint), "{text}: {error}");
        }
        let error = Config::load(None, |n| (n == "CDLC_SIGNUP").then(|| "sometimes".into())).unwrap_err();
        assert!(
            error.to_string().contains("CDLC_SIGNUP") && error.to_string().contains("open, invite or closed")
        );
    }

    #[test]
    fn the_stores_may_be_a_mysql_server() {
        let config =
            Config { stores: Some("mysql://cdlc:s%40cret@db1:3306/media".into()), ..Config::default() };
        config.validate().expect("a valid MySQL stores URL");
        assert_eq!(config.stores_url(), "mysql://cdlc:s%40cret@db1:3306/media");
        let config =
            Config { stores: Some("mysql://cdlc:pw@db1:3306/Bad-Prefix".into()), ..Config::default() };
        let error = format!("{:#}", config.validate().unwrap_err());
        assert!(error.contains("stores") && error.contains("prefix"), "{error}");
    }

    #[test]
    fn the_metadata_store_is_named_by_a_url() {
        let embedded = Config { data_dir: PathBuf::from("/srv/cdlc"), ..Config::default() };
        assert_eq!(embedded.metadata_url(), "sqlite:///srv/cdlc/cdlc.db", "the default lives in DATA_DIR");
        let env = |n: &str| {
            (n == "CDLC_METADATA").then(|| "scylla://db1:9042,db2/media?replication_factor=3".into())
        };
        let scaled = Config::load(None, env).expect("load");
        scaled.validate().expect("a valid scylla URL");
        assert_eq!(scaled.metadata_url(), "scylla://db1:9042,db2/media?replication_factor=3");
        for (url, expected) in [
            ("postgres://db/cdlc", "sqlite:/// or scylla://"),
            ("sqlite://relative.db", "absolute"),
            ("scylla://db1/media?replicas=3", "replicas"),
        ] {
            let config = Config { metadata: Some(url.into()), ..Config::default() };
            let error = format!("{:#}", config.validate().unwrap_err());
            assert!(error.contains("metadata") && error.contains(expected), "{url}: {error}");
        }
    }

    #[test]
    fn objects_name_a_directory_or_a_bucket() {
        let config = Config::default();
        assert!(
            matches!(config.object_store(), Ok(ObjectStoreSetting::Local(p)) if p == Path::new("data/objects"))
        );
        let env = |name: &str| match name {
            "CDLC_OBJECTS" => Some("s3://media?endpoint=http://127.0.0.1:8333".to_owned()),
            "CDLC_S3_ACCESS_KEY_ID" => Some("id".to_owned()),
            "CDLC_S3_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
            _ => None,
        };
        let config = Config::load(None, env).expect("load");
        let Ok(ObjectStoreSetting::S3(s3)) = config.object_store() else { panic!("an S3 store") };
        assert_eq!((s3.bucket.as_str(), s3.path_style), ("media", true));
        assert_eq!(s3.credentials, Some(("id".to_owned(), "secret".to_owned())));

        for (objects, id, complaint) in [
            ("ftp://x", None, "names no object store"),
            ("file://relative", None, "absolute file URL"),
            ("s3://Bad_Name", None, "not a valid s3:// URL"),
            ("s3://media", Some("id"), "both s3_access_key_id and s3_secret_access_key"),
            ("file:///srv/objects", Some("id"), "both"),
        ] {
            let config = Config {
                objects: Some(objects.into()),
                s3_access_key_id: id.map(Into::into),
                ..Config::default()
            };
            let error = format!("{:#}", config.validate().unwrap_err());
            assert!(error.contains(complaint), "{objects}: {error}");
        }
    }
}
