//! Named storage entries (Dokku 0.38): the source of truth for a volume,
//! one JSON file each at `config/storage/entries/<name>.json`.
//!
//! On docker-local an entry is a host folder (`data/storage/<name>` unless
//! created with a custom path) or, for a migrated colon-form mount of a
//! docker volume, that volume's name. Names are DNS-1123 labels of 45
//! characters or less, so they are always safe to join onto a path.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{Error, IoContext, Result};
use crate::store::atomic::{self, FILE_MODE};

pub const DOCKER_LOCAL: &str = "docker-local";
pub const RECLAIM_POLICIES: &[&str] = &["Retain", "Delete"];

/// One entry as stored. Empty optional fields are left out of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Entry {
    pub name: String,
    pub scheduler: String,
    /// An absolute host path, or (migrated volume mounts) a volume name.
    pub host_path: String,
    /// A `--chown` preset or numeric id; empty: no chown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chown: String,
    /// Octal permission bits (`0770`); empty: left alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// `Retain` (the default when empty) or `Delete`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reclaim_policy: String,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Entry {
    /// Whether the entry is a docker volume rather than a host folder.
    pub fn is_volume(&self) -> bool {
        !self.host_path.starts_with('/')
    }

    /// Whether the entry lives at the default `data/storage/<name>`, the
    /// only place `chown`, `mode` and host-folder removal manage.
    pub fn at_default_location(&self, ctx: &Context) -> bool {
        Path::new(&self.host_path) == default_path(ctx, &self.name)
    }

    /// The reclaim policy that applies: `Retain` unless set.
    pub fn computed_reclaim_policy(&self) -> &str {
        if self.reclaim_policy.is_empty() {
            "Retain"
        } else {
            &self.reclaim_policy
        }
    }
}

/// Dokku's rule for entry names: a DNS-1123 label of at most 45
/// characters.
pub fn check_name(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 45
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-';
    if valid {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "Invalid storage entry name {name:?}: names must be DNS-1123 labels (lowercase letters, digits and dashes, starting and ending with a letter or digit) of 45 characters or less"
        )))
    }
}

/// The name argument: present and valid.
pub fn name_arg(name: Option<&str>) -> Result<String> {
    let name = name.ok_or_else(|| Error::fail("Please specify a storage entry name"))?;
    check_name(name)?;
    Ok(name.to_string())
}

/// The storage folder: `$DOKKU_LIB_ROOT/data/storage`.
pub fn storage_dir(ctx: &Context) -> PathBuf {
    ctx.store.lib_root().join("data/storage")
}

/// Where an entry lives unless created with a custom path.
pub fn default_path(ctx: &Context, name: &str) -> PathBuf {
    storage_dir(ctx).join(name)
}

fn entries_dir(ctx: &Context) -> PathBuf {
    ctx.store.lib_root().join("config/storage/entries")
}

fn entry_file(ctx: &Context, name: &str) -> PathBuf {
    entries_dir(ctx).join(format!("{name}.json"))
}

/// The entry called `name`, if registered.
pub fn load(ctx: &Context, name: &str) -> Result<Option<Entry>> {
    let path = entry_file(ctx, name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at("Unable to read", &path),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::fail(format!(
            "Unable to read storage entry {name} ({}): {e}",
            path.display()
        ))
    })
}

/// The registered entry called `name`, or Dokku-style refusal.
pub fn require(ctx: &Context, name: &str) -> Result<Entry> {
    load(ctx, name)?.ok_or_else(|| missing(name))
}

/// The refusal of an entry that is not there (or, for a `user` key, that
/// belongs to apps it may not use).
pub fn missing(name: &str) -> Error {
    Error::fail(format!("Storage entry {name} does not exist"))
}

/// Every registered entry, by name.
pub fn all(ctx: &Context) -> Result<Vec<Entry>> {
    let dir = entries_dir(ctx);
    let listing = match std::fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to list", &dir),
    };
    let mut names = Vec::new();
    for item in listing {
        let file = item.at("Unable to list", &dir)?.file_name();
        let file = file.to_string_lossy();
        if let Some(name) = file.strip_suffix(".json")
            && check_name(name).is_ok()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    let mut entries = Vec::new();
    for name in names {
        if let Some(entry) = load(ctx, &name)? {
            entries.push(entry);
        }
    }
    Ok(entries)
}

pub fn save(ctx: &Context, entry: &Entry) -> Result<()> {
    let mut text = serde_json::to_string(entry).expect("an entry serialises");
    text.push('\n');
    atomic::write_atomic(&entry_file(ctx, &entry.name), text.as_bytes(), FILE_MODE)
}

pub fn remove(ctx: &Context, name: &str) -> Result<()> {
    atomic::remove_file(&entry_file(ctx, name)).map(drop)
}

/// Dokku's name for a migrated colon-form mount:
/// `legacy-<sha1(host path, or "vol:" + volume)>`, 10 hex digits.
pub fn legacy_name(source: &str) -> String {
    let key = if source.starts_with('/') {
        source.to_string()
    } else {
        format!("vol:{source}")
    };
    use sha1::Digest;
    let digest = sha1::Sha1::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("legacy-{}", &hex[..10])
}

/// `--mode`: 3 or 4 octal digits.
pub fn check_mode(mode: &str) -> Result<u32> {
    let valid = matches!(mode.len(), 3 | 4) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
    if !valid {
        return Err(Error::fail(format!(
            "Invalid mode {mode:?}: specify a 3 or 4 digit octal mode such as 0755"
        )));
    }
    u32::from_str_radix(mode, 8).map_err(|_| Error::fail(format!("Invalid mode {mode:?}")))
}

pub fn check_reclaim_policy(policy: &str) -> Result<()> {
    if RECLAIM_POLICIES.contains(&policy) {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "Invalid reclaim policy {policy:?}: valid policies are Retain and Delete"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_1123_labels_of_45_characters_at_most() {
        for good in ["a", "node-js-data", "0abc", &"a".repeat(45)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "a/b",
            "..",
            &"a".repeat(46),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_names_hash_the_source() {
        // sha1("/srv/a") starts ad9cda397b.
        assert_eq!(legacy_name("/srv/a"), "legacy-ad9cda397b");
        assert_ne!(legacy_name("vol"), legacy_name("/vol"));
        assert!(check_name(&legacy_name("cache-x")).is_ok());
    }

    #[test]
    fn modes_and_policies() {
        assert_eq!(check_mode("0777").unwrap(), 0o777);
        assert_eq!(check_mode("750").unwrap(), 0o750);
        for bad in ["", "77", "0888", "07777", "rwx"] {
            assert!(check_mode(bad).is_err(), "{bad}");
        }
        assert!(check_reclaim_policy("Delete").is_ok());
        assert!(check_reclaim_policy("delete").is_err());
    }

    #[test]
    fn records_leave_empty_fields_out() {
        let entry = Entry {
            name: "d".into(),
            scheduler: DOCKER_LOCAL.into(),
            host_path: "/x/d".into(),
            mode: "0770".into(),
            ..Default::default()
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            text,
            r#"{"name":"d","scheduler":"docker-local","host_path":"/x/d","mode":"0770"}"#
        );
        assert_eq!(serde_json::from_str::<Entry>(&text).unwrap(), entry);
    }
}
