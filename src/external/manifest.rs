//! An installed plugin as its folder describes it: `plugin.toml` (the
//! manifest), its executables and its `CONFIG_*` settings.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Paths;
use crate::error::{Error, IoContext, Result};

/// `plugin.toml`, as far as berth reads it.
#[derive(Debug, Default, Deserialize)]
struct Manifest {
    #[serde(default)]
    plugin: ManifestPlugin,
}

#[derive(Debug, Default, Deserialize)]
struct ManifestPlugin {
    #[serde(default)]
    description: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
}

/// An installed external plugin.
#[derive(Debug, Clone)]
pub struct ExternalPlugin {
    pub name: String,
    /// `available/<name>`.
    pub dir: PathBuf,
    pub description: String,
    pub version: String,
    /// `[plugin.config]` defaults, by key.
    config: BTreeMap<String, String>,
}

impl ExternalPlugin {
    /// Reads `dir/plugin.toml`. A missing or broken manifest leaves the
    /// description empty (and is reported by `plugin:list`): the plugin's
    /// executables still run, so a typo cannot silently switch off, say, a
    /// `user-auth` check.
    pub fn load(name: &str, dir: PathBuf) -> ExternalPlugin {
        let manifest = read_manifest(&dir).unwrap_or_default();
        let config = manifest
            .plugin
            .config
            .into_iter()
            .map(|(k, v)| {
                let value = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, value)
            })
            .collect();
        ExternalPlugin {
            name: name.to_string(),
            dir,
            description: manifest.plugin.description,
            version: manifest.plugin.version,
            config,
        }
    }

    /// The plugin's executable `name` (a trigger, `commands`,
    /// `subcommands/<x>`), if it has one. A file that is not executable is
    /// skipped with a warning, as plugn does.
    pub fn executable(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.join(name);
        let meta = fs::metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        if meta.permissions().mode() & 0o111 == 0 {
            eprintln!(
                "{}",
                crate::output::warning(&format!("Skipping {}: not executable", path.display()))
            );
            return None;
        }
        Some(path)
    }

    /// The `CONFIG_<KEY>` variables of `[plugin.config]`: each from
    /// `$<PLUGIN>_<KEY>`, else `[<plugin>]` in `plugins/config.toml`, else
    /// the manifest's default.
    pub(super) fn config_env(&self, paths: &Paths) -> Vec<(String, String)> {
        if self.config.is_empty() {
            return Vec::new();
        }
        let admin: BTreeMap<String, toml::Value> =
            fs::read_to_string(paths.plugin_path.join("config.toml"))
                .ok()
                .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
                .and_then(|mut table| table.remove(&self.name))
                .and_then(|v| v.as_table().cloned())
                .map(|t| t.into_iter().collect())
                .unwrap_or_default();
        let upper = |s: &str| s.to_uppercase().replace('-', "_");
        self.config
            .iter()
            .map(|(key, default)| {
                let var = format!("{}_{}", upper(&self.name), upper(key));
                let value = std::env::var(&var)
                    .ok()
                    .or_else(|| {
                        admin.get(key).map(|v| match v {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                    })
                    .unwrap_or_else(|| default.clone());
                (format!("CONFIG_{}", upper(key)), value)
            })
            .collect()
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("plugin.toml");
    let text = fs::read_to_string(&path).at("Unable to read", &path)?;
    toml::from_str(&text).map_err(|e| {
        Error::fail(format!(
            "Invalid {}: {}",
            path.display(),
            e.message().trim_end()
        ))
    })
}

/// Checks a manifest the way `plugin:install` requires it: present,
/// valid TOML, with a description and a version.
pub fn check_manifest(dir: &Path) -> Result<()> {
    let manifest = read_manifest(dir)?;
    if manifest.plugin.description.trim().is_empty() || manifest.plugin.version.trim().is_empty() {
        return Err(Error::fail(format!(
            "Invalid {}: [plugin] needs a description and a version",
            dir.join("plugin.toml").display()
        )));
    }
    Ok(())
}

/// Dokku's rule for plugin names: `^[0-9a-zA-Z_-]+$`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dokkus_rule() {
        assert!(is_valid_name("letsencrypt"));
        assert!(is_valid_name("my_plugin-2"));
        for bad in ["", "a b", "../x", "x.y", "é"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn install_needs_a_description_and_a_version() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("plugin.toml");
        assert!(check_manifest(dir.path()).is_err(), "no manifest");
        fs::write(&manifest, "[plugin]\ndescription = \"x\"\n").unwrap();
        let message = check_manifest(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("needs a description and a version"),
            "{message}"
        );
        fs::write(&manifest, "[plugin\n").unwrap();
        assert!(
            check_manifest(dir.path())
                .unwrap_err()
                .to_string()
                .starts_with("Invalid")
        );
        fs::write(
            &manifest,
            "[plugin]\ndescription = \"x\"\nversion = \"1.0\"\n[plugin.config]\nretries = 3\n",
        )
        .unwrap();
        check_manifest(dir.path()).unwrap();
        let plugin = ExternalPlugin::load("demo", dir.path().to_path_buf());
        assert_eq!(plugin.version, "1.0");
        assert_eq!(plugin.config["retries"], "3");
    }

    #[test]
    fn a_broken_manifest_still_loads_so_its_checks_keep_running() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("plugin.toml"), "not toml [").unwrap();
        let plugin = ExternalPlugin::load("user-auth-check", dir.path().to_path_buf());
        assert_eq!(plugin.description, "");
        assert_eq!(plugin.name, "user-auth-check");
    }
}
