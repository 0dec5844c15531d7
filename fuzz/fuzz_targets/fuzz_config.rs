//! The config file: TOML into `Config`, then `validate` (server/src/config.rs).
#![no_main]

use cdlc::config::{Config, ObjectStoreSetting};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = Config::parse(text) else { return };
    if config.validate().is_err() {
        return;
    }
    // What validation promises the rest of the server.
    assert!(config.max_upload_bytes > 0);
    assert!(config.workers <= 64);
    assert!((1..=20).contains(&config.max_attempts));
    assert!((0.5..=20.0).contains(&config.segment_duration), "{}", config.segment_duration);
    assert!((60..=30 * 24 * 3600).contains(&config.signed_url_seconds));
    assert!(config.queue == "embedded" || config.queue.starts_with("nats://"));
    if let Some(token) = &config.admin_token {
        assert!(token.len() >= 16);
    }
    if let Some(url) = &config.webhook_url {
        assert!(url.starts_with("http://") || url.starts_with("https://"));
        assert!(config.webhook_secret.as_ref().is_some_and(|s| s.len() >= 16));
    }
    if let Some(keys) = &config.signing_keys {
        assert!(cdlc_edge::SigningKeys::parse(keys).is_ok());
    }
    match config.object_store().expect("validated, so the object store is named") {
        ObjectStoreSetting::Local(path) => {
            assert!(path.is_absolute() || config.objects.as_deref().is_none_or(str::is_empty))
        }
        ObjectStoreSetting::S3(s3) => assert!(!s3.bucket.is_empty()),
    }
    config.edge_settings(None, None).validate().expect("validated edge settings");
    let _ = config.metadata_url();
});
