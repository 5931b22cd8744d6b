//! An app's dynos as Dokku records them: the `CONTAINER.<type>.<n>`,
//! `IP.<type>.<n>` and `PORT.<type>.<n>` files in the app's folder, and the
//! scale in `config/ps/<app>/scale`. The scheduler writes them; `ps`,
//! `run`, `logs`, `enter` and the proxy read them (Dokku's common functions
//! play this part).

use std::net::IpAddr;
use std::path::Path;

use crate::app_name::AppName;
use crate::error::{Error, IoContext, Result};
use crate::store::atomic::{FILE_MODE, remove_file, write_atomic};
use crate::store::{Scope, Store};

/// One running slot: `web.1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dyno {
    pub kind: String,
    pub index: u32,
}

impl Dyno {
    pub fn name(&self) -> String {
        format!("{}.{}", self.kind, self.index)
    }
}

/// `type=N` pairs, web first, then by name.
pub fn scale(store: &Store, app: &AppName) -> Result<Vec<(String, u32)>> {
    let text = store
        .property("ps", &Scope::App(app.clone()), "scale")?
        .unwrap_or_else(|| "web=1".into());
    let mut pairs = parse_scale(&text)?;
    pairs.sort_by(|a, b| (a.0 != "web", &a.0).cmp(&(b.0 != "web", &b.0)));
    Ok(pairs)
}

pub fn parse_scale(text: &str) -> Result<Vec<(String, u32)>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (kind, count) = line
                .split_once('=')
                .ok_or_else(|| Error::fail(format!("Invalid scale entry: {line}")))?;
            let count = count
                .trim()
                .parse()
                .map_err(|_| Error::fail(format!("Invalid count for process type {kind}")))?;
            Ok((kind.trim().to_string(), count))
        })
        .collect()
}

pub fn write_scale(store: &Store, app: &AppName, pairs: &[(String, u32)]) -> Result<()> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    let text: String = pairs.iter().map(|(k, n)| format!("{k}={n}\n")).collect();
    store.set_property("ps", &Scope::App(app.clone()), "scale", text.trim_end())
}

/// The dynos that have a `CONTAINER.*` file, sorted.
pub fn dynos(store: &Store, app: &AppName) -> Result<Vec<Dyno>> {
    let dir = store.app_dir(app);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to list", &dir),
    };
    let mut dynos = Vec::new();
    for entry in entries {
        let name = entry.at("Unable to list", &dir)?.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("CONTAINER.")) else {
            continue;
        };
        if let Some((kind, index)) = rest.rsplit_once('.')
            && let Ok(index) = index.parse()
        {
            dynos.push(Dyno {
                kind: kind.to_string(),
                index,
            });
        }
    }
    dynos.sort();
    Ok(dynos)
}

pub fn is_deployed(store: &Store, app: &AppName) -> Result<bool> {
    Ok(!dynos(store, app)?.is_empty())
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn container_id(store: &Store, app: &AppName, dyno: &Dyno) -> Option<String> {
    read(&store.app_dir(app), &format!("CONTAINER.{}", dyno.name()))
}

pub fn address(store: &Store, app: &AppName, dyno: &Dyno) -> Option<(String, String)> {
    let dir = store.app_dir(app);
    Some((
        read(&dir, &format!("IP.{}", dyno.name()))?,
        read(&dir, &format!("PORT.{}", dyno.name()))?,
    ))
}

/// A running web container as the proxy reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub index: u32,
    pub ip: IpAddr,
    pub port: u16,
}

/// The app's web listeners (`IP.web.<n>` + `PORT.web.<n>`), by index.
/// Only well-formed addresses count: these files end up in nginx's config
/// and in clickable URLs.
pub fn web_listeners(store: &Store, app: &AppName) -> Vec<Listener> {
    let dir = store.app_dir(app);
    let mut found: Vec<Listener> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let index = name.to_str()?.strip_prefix("IP.web.")?;
            Some(Listener {
                index: index.parse().ok()?,
                ip: read(&dir, &format!("IP.web.{index}"))?.parse().ok()?,
                port: read(&dir, &format!("PORT.web.{index}"))?.parse().ok()?,
            })
        })
        .collect();
    found.sort_by_key(|listener| listener.index);
    found
}

pub fn record(
    store: &Store,
    app: &AppName,
    dyno: &Dyno,
    id: &str,
    ip: &str,
    port: u16,
) -> Result<()> {
    let dir = store.app_dir(app);
    write_atomic(
        &dir.join(format!("IP.{}", dyno.name())),
        ip.as_bytes(),
        FILE_MODE,
    )?;
    write_atomic(
        &dir.join(format!("PORT.{}", dyno.name())),
        port.to_string().as_bytes(),
        FILE_MODE,
    )?;
    write_atomic(
        &dir.join(format!("CONTAINER.{}", dyno.name())),
        id.as_bytes(),
        FILE_MODE,
    )
}

pub fn forget(store: &Store, app: &AppName, dyno: &Dyno) -> Result<()> {
    let dir = store.app_dir(app);
    for prefix in ["CONTAINER", "IP", "PORT"] {
        remove_file(&dir.join(format!("{prefix}.{}", dyno.name())))?;
    }
    Ok(())
}

/// The recorded dynos with their files, to put back if a switch fails.
pub struct Snapshot {
    entries: Vec<(Dyno, String, String, String)>,
}

pub fn snapshot(store: &Store, app: &AppName) -> Result<Snapshot> {
    let dir = store.app_dir(app);
    let mut entries = Vec::new();
    for dyno in dynos(store, app)? {
        let get =
            |prefix: &str| read(&dir, &format!("{prefix}.{}", dyno.name())).unwrap_or_default();
        entries.push((dyno.clone(), get("CONTAINER"), get("IP"), get("PORT")));
    }
    Ok(Snapshot { entries })
}

impl Snapshot {
    /// The container id recorded for `dyno`, if any.
    pub fn container(&self, dyno: &Dyno) -> Option<&str> {
        self.entries
            .iter()
            .find(|(d, ..)| d == dyno)
            .map(|(_, id, ..)| id.as_str())
            .filter(|id| !id.is_empty())
    }

    pub fn dynos(&self) -> impl Iterator<Item = &Dyno> {
        self.entries.iter().map(|(d, ..)| d)
    }

    /// Puts the files back exactly as they were.
    pub fn restore(&self, store: &Store, app: &AppName) -> Result<()> {
        for dyno in dynos(store, app)? {
            forget(store, app, &dyno)?;
        }
        let dir = store.app_dir(app);
        for (dyno, id, ip, port) in &self.entries {
            for (prefix, value) in [("IP", ip), ("PORT", port), ("CONTAINER", id)] {
                write_atomic(
                    &dir.join(format!("{prefix}.{}", dyno.name())),
                    value.as_bytes(),
                    FILE_MODE,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_parses_and_refuses_garbage() {
        assert_eq!(
            parse_scale("web=2\nworker=0\n").unwrap(),
            vec![("web".to_string(), 2), ("worker".to_string(), 0)]
        );
        assert!(parse_scale("web").is_err());
        assert!(parse_scale("web=x").is_err());
    }
}
