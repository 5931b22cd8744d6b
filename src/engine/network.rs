//! The apps' bridge network, made once however many deploys start at once.
//!
//! The engine lets several networks share a name, and "inspect, then create
//! if missing" races: concurrent first deploys each created a `berth`, and
//! every later deploy failed with "network berth is ambiguous". So:
//! - creation is serialised between the berth processes of this host by a
//!   lock file outside the data roots (`/run/lock`), and
//! - whoever finds more than one network of the name repairs the engine
//!   deterministically (the oldest wins, then the smallest id): the others'
//!   containers move onto the kept one and the others are removed. Every
//!   process makes the same choice, so concurrent repairs agree.
//!
//! Containers are attached by the kept network's id, never by name, so a
//! duplicate made meanwhile by another host cannot make a deploy fail.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest};
use bollard::query_parameters::ListNetworksOptions;

use super::{Engine, engine_error, is_already_connected, is_not_found, short};
use crate::error::{Error, Result};
use crate::store::lock::LockGuard;

/// Names the apps' network: `BERTH_NETWORK` (tests give each run its own),
/// else `berth`.
pub const NETWORK_ENV: &str = "BERTH_NETWORK";
const DEFAULT_NETWORK: &str = "berth";
/// The label berth puts on the networks it creates.
const LABEL: &str = "com.dokku.network";

/// The apps' bridge network's name. A `BERTH_NETWORK` that Docker would
/// refuse falls back to the default, with no surprise later.
pub fn app_network() -> String {
    std::env::var(NETWORK_ENV)
        .ok()
        .filter(|name| is_valid_name(name))
        .unwrap_or_else(|| DEFAULT_NETWORK.to_string())
}

/// Docker's rule for object names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 128
}

/// The network to attach containers to, and what was repaired on the way.
#[derive(Debug)]
pub struct AppNetwork {
    pub id: String,
    pub name: String,
    pub repair: Option<Repair>,
}

/// A repair of duplicate networks: which one was kept, which were
/// removed, and the containers moved onto the kept one (with their app,
/// from the `com.dokku.app-name` label, when they are an app's).
#[derive(Debug, Default)]
pub struct Repair {
    pub kept: String,
    pub removed: Vec<String>,
    pub moved: Vec<(String, Option<String>)>,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kept network {} (the oldest), moved {} container(s) onto it, removed {} duplicate(s): {}",
            short(&self.kept),
            self.moved.len(),
            self.removed.len(),
            self.removed
                .iter()
                .map(|id| short(id))
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

/// One network of the name, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    id: String,
    created: String,
}

impl Engine {
    /// The bridge network `name`, created unless it exists; duplicates of
    /// it are repaired (see the module documentation).
    pub fn ensure_network(&self, name: &str) -> Result<AppNetwork> {
        let mut found = self.networks_named(name)?;
        if found.is_empty() {
            let _lock = LockGuard::acquire(&creation_lock(name))?;
            found = self.networks_named(name)?;
            if found.is_empty() {
                self.create_network(name)?;
                found = self.networks_named(name)?;
            }
        }
        let Some(kept) = oldest(&found).cloned() else {
            return Err(Error::fail(format!(
                "Network {name} disappeared right after it was created; try again"
            )));
        };
        let repair = if found.len() > 1 {
            Some(self.repair_duplicates(&kept, &found)?)
        } else {
            None
        };
        Ok(AppNetwork {
            id: kept.id,
            name: name.to_string(),
            repair,
        })
    }

    /// The networks called exactly `name` (the engine's filter matches
    /// parts of names too).
    fn networks_named(&self, name: &str) -> Result<Vec<Candidate>> {
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([(
                "name".to_string(),
                vec![name.to_string()],
            )])),
        };
        let networks = self
            .block_on(self.docker.list_networks(Some(options)))
            .map_err(|e| engine_error("Unable to list networks", e))?;
        Ok(networks
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| {
                Some(Candidate {
                    id: n.id?,
                    created: rfc3339(n.created),
                })
            })
            .collect())
    }

    fn create_network(&self, name: &str) -> Result<()> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(LABEL.into(), "berth".into())])),
            ..Default::default()
        };
        self.block_on(self.docker.create_network(request))
            .map(drop)
            .map_err(|e| engine_error(&format!("Unable to create network {name}"), e))
    }

    /// Moves every container of the duplicates onto `kept` and removes
    /// the duplicates. Safe to run from several processes at once: each
    /// step that another process already did counts as done.
    fn repair_duplicates(&self, kept: &Candidate, found: &[Candidate]) -> Result<Repair> {
        let mut repair = Repair {
            kept: kept.id.clone(),
            ..Repair::default()
        };
        for duplicate in found.iter().filter(|c| c.id != kept.id) {
            let inspected = match self.block_on(self.docker.inspect_network(&duplicate.id, None)) {
                Ok(network) => network,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(engine_error("Unable to inspect a duplicate network", e)),
            };
            for container in inspected.containers.unwrap_or_default().into_keys() {
                self.move_container(&container, &duplicate.id, &kept.id)?;
                let app = self
                    .inspect_container(&container)?
                    .and_then(|c| c.config)
                    .and_then(|c| c.labels)
                    .and_then(|mut labels| labels.remove("com.dokku.app-name"));
                repair.moved.push((container, app));
            }
            match self.block_on(self.docker.remove_network(&duplicate.id)) {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(engine_error(
                        &format!(
                            "Unable to remove duplicate network {}",
                            short(&duplicate.id)
                        ),
                        e,
                    ));
                }
            }
            repair.removed.push(duplicate.id.clone());
        }
        Ok(repair)
    }

    fn move_container(&self, container: &str, from: &str, to: &str) -> Result<()> {
        let connect = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: None,
        };
        match self.block_on(self.docker.connect_network(to, connect)) {
            Ok(()) => {}
            Err(e) if is_already_connected(&e) || is_not_found(&e) => {}
            Err(e) => {
                return Err(engine_error(
                    &format!(
                        "Unable to move container {} to network {}",
                        short(container),
                        short(to)
                    ),
                    e,
                ));
            }
        }
        let disconnect = NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(true),
        };
        match self.block_on(self.docker.disconnect_network(from, disconnect)) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // Already disconnected by a concurrent repair.
            Err(e) if e.to_string().contains("is not connected") => Ok(()),
            Err(e) => Err(engine_error(
                &format!(
                    "Unable to move container {} off network {}",
                    short(container),
                    short(from)
                ),
                e,
            )),
        }
    }
}

/// The label `network:create` puts on the networks it makes, as Dokku
/// does: `com.dokku.network-name=<name>`.
pub const MANAGED_LABEL: &str = "com.dokku.network-name";

/// A network as `network:list` and `network:info` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub created: String,
    pub driver: String,
    pub scope: String,
    pub internal: bool,
    pub ipv6: bool,
    pub labels: std::collections::BTreeMap<String, String>,
}

impl NetworkInfo {
    /// Made by `network:create` (Dokku's label) or berth's own apps'
    /// network.
    pub fn dokku_managed(&self) -> bool {
        self.labels.contains_key(MANAGED_LABEL) || self.labels.contains_key(LABEL)
    }
}

impl From<bollard::models::Network> for NetworkInfo {
    fn from(n: bollard::models::Network) -> NetworkInfo {
        NetworkInfo {
            id: n.id.unwrap_or_default(),
            name: n.name.unwrap_or_default(),
            created: rfc3339(n.created),
            driver: n.driver.unwrap_or_default(),
            scope: n.scope.unwrap_or_default(),
            internal: n.internal.unwrap_or(false),
            ipv6: n.enable_ipv6.unwrap_or(false),
            labels: n.labels.unwrap_or_default().into_iter().collect(),
        }
    }
}

impl Engine {
    /// Every network of the engine, sorted by name.
    pub fn list_networks(&self) -> Result<Vec<NetworkInfo>> {
        let networks = self
            .block_on(self.docker.list_networks(None::<ListNetworksOptions>))
            .map_err(|e| engine_error("Unable to list networks", e))?;
        let mut networks: Vec<NetworkInfo> = networks.into_iter().map(NetworkInfo::from).collect();
        networks.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(networks)
    }

    /// The network called exactly `name` (not an id or a prefix of one).
    pub fn network(&self, name: &str) -> Result<Option<NetworkInfo>> {
        Ok(self.list_networks()?.into_iter().find(|n| n.name == name))
    }

    /// Creates an attachable bridge network labelled as Dokku labels the
    /// networks of `network:create`.
    /// The lock every process takes before it checks for and creates the
    /// network `name`, so no two create it.
    pub fn network_creation_lock(&self, name: &str) -> Result<LockGuard> {
        LockGuard::acquire(&creation_lock(name))
    }

    pub fn create_managed_network(&self, name: &str) -> Result<()> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            attachable: Some(true),
            labels: Some(HashMap::from([(MANAGED_LABEL.into(), name.into())])),
            ..Default::default()
        };
        self.block_on(self.docker.create_network(request))
            .map(drop)
            .map_err(|e| engine_error(&format!("Unable to create network {name}"), e))
    }

    /// Removes the network `id`; the engine refuses while containers are
    /// attached, and says so.
    pub fn remove_network(&self, id: &str, name: &str) -> Result<()> {
        self.block_on(self.docker.remove_network(id))
            .map_err(|e| engine_error(&format!("Unable to destroy network {name}"), e))
    }

    /// Connects container `id` to `network` with `aliases` (none on the
    /// default bridge, which refuses them). Already connected counts as
    /// done.
    pub fn connect_network_with_aliases(
        &self,
        network: &str,
        id: &str,
        aliases: &[String],
    ) -> Result<()> {
        let endpoint = (!aliases.is_empty() && network != "bridge").then(|| {
            bollard::models::EndpointSettings {
                aliases: Some(aliases.to_vec()),
                ..Default::default()
            }
        });
        let request = NetworkConnectRequest {
            container: id.to_string(),
            endpoint_config: endpoint,
        };
        match self.block_on(self.docker.connect_network(network, request)) {
            Ok(()) => Ok(()),
            Err(e) if is_already_connected(&e) => Ok(()),
            Err(e) => Err(engine_error(
                &format!(
                    "Unable to connect container {} to network {network}",
                    short(id)
                ),
                e,
            )),
        }
    }
}

/// Host-wide lock around "list, create if none" (shared by every berth on
/// this host whatever its data roots; the platform container has its own).
fn creation_lock(name: &str) -> PathBuf {
    let dir = if std::path::Path::new("/run/lock").is_dir()
        && nix::unistd::access("/run/lock", nix::unistd::AccessFlags::W_OK).is_ok()
    {
        PathBuf::from("/run/lock")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("berth-network-{name}.lock"))
}

/// The network every process keeps: the oldest, then the smallest id.
fn oldest(found: &[Candidate]) -> Option<&Candidate> {
    found
        .iter()
        .min_by(|a, b| (created_key(&a.created), &a.id).cmp(&(created_key(&b.created), &b.id)))
}

/// An RFC 3339 time as `(date and time to the second, nanoseconds)`, so
/// that `…:12Z` sorts before `…:12.5Z` (as plain strings they would not).
/// All networks of one engine carry the engine's offset, which is ignored.
fn created_key(created: &str) -> (String, u32) {
    let end = created
        .char_indices()
        .skip(19)
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
        .map_or(created.len(), |(i, _)| i);
    let stamp = &created[..end];
    match stamp.split_once('.') {
        Some((seconds, fraction)) => {
            let digits: String = fraction
                .chars()
                .chain("000000000".chars())
                .take(9)
                .collect();
            (seconds.to_string(), digits.parse().unwrap_or(0))
        }
        None => (stamp.to_string(), 0),
    }
}

/// The engine's timestamps as it writes them (bollard parses them).
fn rfc3339(time: Option<time::OffsetDateTime>) -> String {
    time.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, created: &str) -> Candidate {
        Candidate {
            id: id.into(),
            created: created.into(),
        }
    }

    #[test]
    fn the_oldest_network_is_kept_whatever_the_order() {
        let found = vec![
            candidate("bbb", "2026-12-02T06:31:12.5Z"),
            candidate("ccc", "2026-12-02T06:31:12Z"),
            candidate("aaa", "2026-12-02T06:31:12.123456789Z"),
        ];
        assert_eq!(oldest(&found).unwrap().id, "ccc");
        let mut reversed = found.clone();
        reversed.reverse();
        assert_eq!(oldest(&reversed).unwrap().id, "ccc");
    }

    #[test]
    fn equal_times_fall_back_to_the_id() {
        let found = vec![
            candidate("bbb", "2026-12-02T06:31:12.1+01:00"),
            candidate("aaa", "2026-12-02T06:31:12.1+01:00"),
        ];
        assert_eq!(oldest(&found).unwrap().id, "aaa");
        assert_eq!(oldest(&[]), None);
    }

    #[test]
    fn fractions_compare_as_numbers() {
        assert!(created_key("2026-01-01T00:00:00.9Z") > created_key("2026-01-01T00:00:00.10Z"));
        assert!(created_key("2026-01-01T00:00:01Z") > created_key("2026-01-01T00:00:00.999Z"));
    }

    #[test]
    fn network_names_follow_dockers_rule() {
        assert!(is_valid_name("berth"));
        assert!(is_valid_name("berth-it-1a2b.x_y"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("-x"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a/b"));
    }
}
