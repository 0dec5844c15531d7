//! The plugins built into this binary and the host's side of accounts:
//! what happens to a deleted user's data.

use std::sync::Arc;

use cdlc_accounts::UserDeletedHook;
use cdlc_plugin_api::host::PluginHost;
use cdlc_plugin_api::{async_trait, DeletedUser, Plugin};

use crate::owners::Owners;

/// Plugins that are off unless their section says `enabled = true`: the
/// samples, which exist to prove the plugin API on a real server.
const OFF_BY_DEFAULT: &[&str] = &["guestbook", "tally"];

/// Every plugin this binary has: the catalog, booking, social and analytics
/// (each on unless its section says `enabled = false`) and the samples.
pub fn built_in() -> Vec<Arc<dyn Plugin>> {
    let mut plugins: Vec<Arc<dyn Plugin>> = vec![Arc::new(cdlc_plugin_catalog::Catalog::new())];
    plugins.extend(cdlc_plugin_sample::plugins());
    plugins.push(Arc::new(cdlc_plugin_booking::Booking::new()));
    plugins.push(Arc::new(cdlc_plugin_social::Social::new()));
    plugins.push(Arc::new(cdlc_plugin_analytics::Analytics::new()));
    plugins
}

/// The `[plugins]` table with `enabled = false` added to each sample that
/// the config does not enable.
pub fn with_defaults(config: &toml::Table) -> toml::Table {
    let mut table = config.clone();
    for name in OFF_BY_DEFAULT {
        let entry = table.entry(name.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section) = entry {
            section.entry("enabled").or_insert(toml::Value::Boolean(false));
        }
    }
    table
}

/// Told of every deleted account: the host forgets which assets the user
/// uploaded (they stay, the admins' alone), then every started plugin
/// removes what it holds of the user.
pub struct DeletedUsers {
    pub plugins: Arc<PluginHost>,
    pub owners: Owners,
}

#[async_trait]
impl UserDeletedHook for DeletedUsers {
    async fn user_deleted(&self, user: &DeletedUser) -> Vec<String> {
        let mut failures = Vec::new();
        if let Err(error) = self.owners.forget_user(&user.user_id).await {
            tracing::error!(user_id = %user.user_id, %error, "cannot forget the user's assets");
            failures.push(format!("assets: {error}"));
        }
        for (plugin, error) in self.plugins.user_deleted(user).await {
            failures.push(format!("{plugin}: {error}"));
        }
        failures
    }
}
