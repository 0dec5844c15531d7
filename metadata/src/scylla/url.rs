//! The `scylla://` URL that names a cluster, a keyspace and how to use it.

use scylla::frame::types::{Consistency, SerialConsistency};

use crate::MetadataError;

/// Port of the CQL native protocol when a node names none.
pub const DEFAULT_CQL_PORT: u16 = 9042;

/// Where the keyspace's replicas go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// `SimpleStrategy`: one replication factor for the whole cluster.
    Simple { factor: u32 },
    /// `NetworkTopologyStrategy`: a replication factor per datacenter.
    NetworkTopology { datacenters: Vec<(String, u32)> },
}

impl Replication {
    /// The map of `CREATE KEYSPACE … WITH replication = {…}`.
    pub fn cql_map(&self) -> String {
        match self {
            Replication::Simple { factor } => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {factor}}}")
            }
            Replication::NetworkTopology { datacenters } => {
                let entries: Vec<String> =
                    datacenters.iter().map(|(name, factor)| format!("'{name}': {factor}")).collect();
                format!("{{'class': 'NetworkTopologyStrategy', {}}}", entries.join(", "))
            }
        }
    }
}

/// A parsed `scylla://` URL:
///
/// `scylla://host1:9042,host2:9042/keyspace?replication_factor=1`
///
/// | key | default | meaning |
/// | --- | --- | --- |
/// | `replication_factor` | 1 | `SimpleStrategy` with this many replicas (1–15) |
/// | `datacenters` | — | `dc1:3,dc2:3`: `NetworkTopologyStrategy`; excludes `replication_factor` |
/// | `consistency` | `local_quorum` | `one`, `local_one`, `quorum`, `local_quorum`, `each_quorum` or `all`; lightweight transactions use `local_serial` with the `local_*` levels, `serial` otherwise |
/// | `user`, `password` | — | password authentication (both or neither; percent-encode `&`, `=`, `%`) |
/// | `tablets` | `disabled` | `disabled` creates the keyspace with `tablets = {'enabled': false}` (lightweight transactions need vnodes on ScyllaDB 6.0–2025.3), or without the option on a server that answers it knows none (Cassandra, ScyllaDB before 6.0); `unset` always leaves it out (a ScyllaDB with LWT on tablets) |
///
/// The keyspace and its tables are created when absent; a port-less host uses 9042.
#[derive(Clone, PartialEq)]
pub struct ScyllaUrl {
    /// `host:port` of each contact node.
    pub nodes: Vec<String>,
    /// Lower-case keyspace name.
    pub keyspace: String,
    pub replication: Replication,
    pub consistency: Consistency,
    pub credentials: Option<(String, String)>,
    /// Whether `CREATE KEYSPACE` says `tablets = {'enabled': false}`.
    pub disable_tablets: bool,
}

impl std::fmt::Debug for ScyllaUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaUrl")
            .field("nodes", &self.nodes)
            .field("keyspace", &self.keyspace)
            .field("replication", &self.replication)
            .field("consistency", &self.consistency)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("disable_tablets", &self.disable_tablets)
            .finish()
    }
}

fn bad(message: impl Into<String>) -> MetadataError {
    MetadataError::BadUrl(message.into())
}

/// Decodes `%XX` escapes so a password may hold `&`, `=` or `%`.
fn percent_decode(text: &str) -> Result<String, MetadataError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text
                .get(index + 1..index + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("{text:?} has a % that is not followed by two hex digits")))?;
            out.push(hex);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("{text:?} does not decode to UTF-8")))
}

fn parse_node(node: &str) -> Result<String, MetadataError> {
    let node = node.trim();
    if node.is_empty() {
        return Err(bad("a node in the host list is empty; write host:port,host:port"));
    }
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let (host, port) = if let Some(rest) = node.strip_prefix('[') {
        let (host, after) =
            rest.split_once(']').ok_or_else(|| bad(format!("{node:?} lacks its closing ]")))?;
        (format!("[{host}]"), after.strip_prefix(':'))
    } else {
        match node.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (node.to_owned(), None),
        }
    };
    if host.is_empty() || host.contains(['/', '?', '@', ' ']) {
        return Err(bad(format!("{node:?} is not a host name or address")));
    }
    let port = match port {
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad(format!("{node:?} has no valid port (1–65535)")))?,
        None => DEFAULT_CQL_PORT,
    };
    Ok(format!("{host}:{port}"))
}

fn parse_keyspace(name: &str) -> Result<String, MetadataError> {
    let valid = name.len() <= 48
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(bad(format!(
            "keyspace {name:?} must start with a letter and hold only letters, digits and _ (48 at most): \
             scylla://host:9042/cdlc"
        )));
    }
    Ok(name.to_ascii_lowercase())
}

fn parse_factor(key: &str, text: &str) -> Result<u32, MetadataError> {
    text.parse::<u32>()
        .ok()
        .filter(|f| (1..=15).contains(f))
        .ok_or_else(|| bad(format!("{key} {text:?} must be a whole number from 1 to 15")))
}

fn parse_consistency(text: &str) -> Result<Consistency, MetadataError> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "one" => Consistency::One,
        "local_one" => Consistency::LocalOne,
        "quorum" => Consistency::Quorum,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "all" => Consistency::All,
        _ => {
            return Err(bad(format!(
                "consistency {text:?} must be one of one, local_one, quorum, local_quorum, each_quorum, all"
            )))
        }
    })
}

impl ScyllaUrl {
    pub fn parse(url: &str) -> Result<ScyllaUrl, MetadataError> {
        let rest = url
            .strip_prefix("scylla://")
            .ok_or_else(|| bad("a ScyllaDB URL starts with scylla://, e.g. scylla://127.0.0.1:9042/cdlc"))?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, keyspace) = location
            .split_once('/')
            .ok_or_else(|| bad("the URL names no keyspace: scylla://host:9042/KEYSPACE"))?;
        if hosts.is_empty() {
            return Err(bad("the URL names no node: scylla://host:9042/keyspace"));
        }
        let nodes = hosts.split(',').map(parse_node).collect::<Result<Vec<_>, _>>()?;
        let keyspace = parse_keyspace(keyspace)?;

        let mut factor = None;
        let mut datacenters = None;
        let mut consistency = Consistency::LocalQuorum;
        let (mut user, mut password) = (None, None);
        let mut disable_tablets = true;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| bad(format!("{pair:?} in the query is not key=value")))?;
            let value = percent_decode(value)?;
            match key {
                "replication_factor" => factor = Some(parse_factor(key, &value)?),
                "datacenters" => {
                    let list = value
                        .split(',')
                        .map(|entry| {
                            let (name, factor) = entry.split_once(':').ok_or_else(|| {
                                bad(format!("datacenters entry {entry:?} is not NAME:FACTOR, e.g. dc1:3"))
                            })?;
                            let valid_name = !name.is_empty()
                                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
                            if !valid_name {
                                return Err(bad(format!("datacenter name {name:?} is not valid")));
                            }
                            Ok((name.to_owned(), parse_factor("datacenters", factor)?))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    datacenters = Some(list);
                }
                "consistency" => consistency = parse_consistency(&value)?,
                "user" => user = Some(value),
                "password" => password = Some(value),
                "tablets" => {
                    disable_tablets = match value.as_str() {
                        "disabled" => true,
                        "unset" => false,
                        _ => return Err(bad(format!("tablets {value:?} must be disabled or unset"))),
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "unknown key {key:?}; known: replication_factor, datacenters, consistency, user, \
                         password, tablets"
                    )))
                }
            }
        }
        let replication = match (factor, datacenters) {
            (Some(_), Some(_)) => {
                return Err(bad("give replication_factor (SimpleStrategy) or datacenters, not both"));
            }
            (_, Some(datacenters)) => Replication::NetworkTopology { datacenters },
            (factor, None) => Replication::Simple { factor: factor.unwrap_or(1) },
        };
        let credentials = match (user, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => return Err(bad("give both user and password, or neither")),
        };
        Ok(ScyllaUrl { nodes, keyspace, replication, consistency, credentials, disable_tablets })
    }

    /// Serial consistency of lightweight transactions, in step with `consistency`.
    pub fn serial_consistency(&self) -> SerialConsistency {
        match self.consistency {
            Consistency::LocalOne | Consistency::LocalQuorum => SerialConsistency::LocalSerial,
            _ => SerialConsistency::Serial,
        }
    }

    /// `CREATE KEYSPACE IF NOT EXISTS` for this URL.
    pub fn create_keyspace_cql(&self) -> String {
        let tablets = if self.disable_tablets { " AND tablets = {'enabled': false}" } else { "" };
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}{tablets}",
            self.keyspace,
            self.replication.cql_map()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url_parses_into_nodes_keyspace_and_options() {
        let url = ScyllaUrl::parse(
            "scylla://10.0.0.1:9042,db2,[::1]:19042/Media?consistency=quorum&user=cdlc&password=a%26b%3Dc",
        )
        .expect("valid");
        assert_eq!(url.nodes, vec!["10.0.0.1:9042", "db2:9042", "[::1]:19042"]);
        assert_eq!(url.keyspace, "media", "unquoted CQL names are case-insensitive");
        assert_eq!(url.replication, Replication::Simple { factor: 1 });
        assert_eq!(
            (url.consistency, url.serial_consistency()),
            (Consistency::Quorum, SerialConsistency::Serial)
        );
        assert_eq!(url.credentials, Some(("cdlc".into(), "a&b=c".into())));
        assert!(!format!("{url:?}").contains("a&b=c"), "Debug hides the password");
    }

    #[test]
    fn replication_picks_the_strategy() {
        let simple = ScyllaUrl::parse("scylla://h/ks?replication_factor=3").expect("valid");
        assert_eq!(
            simple.create_keyspace_cql(),
            "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', \
             'replication_factor': 3} AND tablets = {'enabled': false}"
        );
        assert_eq!(simple.serial_consistency(), SerialConsistency::LocalSerial);
        let spread =
            ScyllaUrl::parse("scylla://h/ks?datacenters=eu-west:3,us_east:2&tablets=unset").expect("valid");
        assert_eq!(
            spread.create_keyspace_cql(),
            "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'NetworkTopologyStrategy', \
             'eu-west': 3, 'us_east': 2}"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("sqlite:///x", "scylla://"),
            ("scylla://h", "no keyspace"),
            ("scylla:///ks", "no node"),
            ("scylla://h:0/ks", "port"),
            ("scylla://h:x/ks", "port"),
            ("scylla://h,,g/ks", "empty"),
            ("scylla://h/1ks", "keyspace"),
            ("scylla://h/ks;drop", "keyspace"),
            ("scylla://h/ks?replication_factor=0", "replication_factor"),
            ("scylla://h/ks?replication_factor=1&datacenters=dc1:1", "not both"),
            ("scylla://h/ks?datacenters=dc1", "NAME:FACTOR"),
            ("scylla://h/ks?datacenters=d'c:1", "datacenter name"),
            ("scylla://h/ks?consistency=most", "consistency"),
            ("scylla://h/ks?user=u", "both user and password"),
            ("scylla://h/ks?tablets=on", "tablets"),
            ("scylla://h/ks?replicas=3", "unknown key"),
            ("scylla://h/ks?password=%zz&user=u", "hex"),
        ];
        for (url, expected) in cases {
            let error = ScyllaUrl::parse(url).expect_err(url).to_string();
            assert!(error.contains(expected), "{url}: {error}");
        }
    }
}
