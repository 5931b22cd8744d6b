//! berth's state, in Dokku's on-disk layout.
//!
//! - `DOKKU_ROOT` (default `/home/dokku`): one folder per app.
//! - `DOKKU_LIB_ROOT` (default `/var/lib/dokku`): `config/<app>/ENV`,
//!   `config/--global/ENV`, properties at `config/<plugin>/<app|--global>/<key>`,
//!   and plugin data at `data/<plugin>/<app>/`.
//!
//! Every write goes through [`atomic::write_atomic`]; read-modify-write
//! sequences hold the scope's [`lock::LockGuard`].
//!
//! Architecture invariant: the store knows nothing about Docker, git or
//! nginx. It stores strings in files.

pub mod atomic;
pub mod lock;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::app_name::AppName;
use crate::dotenv::{self, Env};
use crate::error::{Error, IoContext, Result};

use atomic::{FILE_MODE, ensure_dir, remove_file, write_atomic};
pub use lock::LockGuard;

/// What a property or an ENV file belongs to: one app, or every app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    App(AppName),
    Global,
}

impl Scope {
    /// The folder name Dokku uses: the app's name, or `--global`.
    pub fn dir_name(&self) -> &str {
        match self {
            Scope::App(app) => app.as_str(),
            Scope::Global => "--global",
        }
    }

    pub fn app(&self) -> Option<&AppName> {
        match self {
            Scope::App(app) => Some(app),
            Scope::Global => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    dokku_root: PathBuf,
    lib_root: PathBuf,
}

/// A property's app value and global value (empty when unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layered {
    pub app: String,
    pub global: String,
}

impl Layered {
    /// The app value, else the global value.
    pub fn resolved(&self) -> Option<String> {
        [&self.app, &self.global]
            .into_iter()
            .find(|v| !v.is_empty())
            .cloned()
    }

    /// The resolved value, else `default`: what a report's `computed` row
    /// shows.
    pub fn computed(&self, default: &str) -> String {
        self.resolved().unwrap_or_else(|| default.to_string())
    }
}

impl Store {
    pub fn new(dokku_root: impl Into<PathBuf>, lib_root: impl Into<PathBuf>) -> Store {
        Store {
            dokku_root: dokku_root.into(),
            lib_root: lib_root.into(),
        }
    }

    /// Roots from `DOKKU_ROOT` and `DOKKU_LIB_ROOT` (or the legacy
    /// `DOKKU_LIB_PATH`), with Dokku's defaults.
    pub fn from_env() -> Store {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Store::new(
            var("DOKKU_ROOT").unwrap_or_else(|| "/home/dokku".into()),
            var("DOKKU_LIB_ROOT")
                .or_else(|| var("DOKKU_LIB_PATH"))
                .unwrap_or_else(|| "/var/lib/dokku".into()),
        )
    }

    pub fn dokku_root(&self) -> &Path {
        &self.dokku_root
    }

    pub fn lib_root(&self) -> &Path {
        &self.lib_root
    }

    // ----- apps -----

    /// `DOKKU_ROOT/<app>`: the app's folder (its bare git repo).
    pub fn app_dir(&self, app: &AppName) -> PathBuf {
        self.dokku_root.join(app.as_str())
    }

    pub fn app_exists(&self, app: &AppName) -> bool {
        self.app_dir(app).is_dir()
    }

    /// The apps, sorted: folders in `DOKKU_ROOT` whose names pass the lookup
    /// rule (this skips `.ssh`, `VHOST` and other non-app entries).
    pub fn apps(&self) -> Result<Vec<AppName>> {
        let entries = match fs::read_dir(&self.dokku_root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at("Unable to list", &self.dokku_root),
        };
        let mut apps = Vec::new();
        for entry in entries {
            let entry = entry.at("Unable to list", &self.dokku_root)?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if let (true, Ok(app)) = (is_dir, AppName::lookup(&name)) {
                apps.push(app);
            }
        }
        apps.sort();
        Ok(apps)
    }

    pub fn create_app_dir(&self, app: &AppName) -> Result<()> {
        let dir = self.app_dir(app);
        ensure_dir(&self.dokku_root)?;
        fs::create_dir(&dir).at("Unable to create", &dir)?;
        atomic::sync_dir(&self.dokku_root)
    }

    // ----- locks -----

    /// Folder for plugin data of one scope: `data/<plugin>/<app|--global>`.
    pub fn data_dir(&self, plugin: &str, scope: &Scope) -> PathBuf {
        self.lib_root
            .join("data")
            .join(plugin)
            .join(scope.dir_name())
    }

    /// The lock that serialises read-modify-write of one scope's state.
    pub fn lock(&self, scope: &Scope) -> Result<LockGuard> {
        LockGuard::acquire(&self.data_dir("apps", scope).join(".state.lock"))
    }

    /// Dokku's deploy lock file, `data/apps/<app>/.deploy.lock`.
    pub fn deploy_lock_path(&self, app: &AppName) -> PathBuf {
        self.data_dir("apps", &Scope::App(app.clone()))
            .join(".deploy.lock")
    }

    // ----- properties -----

    fn property_path(&self, plugin: &str, scope: &Scope, key: &str) -> PathBuf {
        self.lib_root
            .join("config")
            .join(plugin)
            .join(scope.dir_name())
            .join(key)
    }

    /// A property's raw value; `None` when unset.
    pub fn property(&self, plugin: &str, scope: &Scope, key: &str) -> Result<Option<String>> {
        let path = self.property_path(plugin, scope, key);
        match fs::read_to_string(&path) {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at("Unable to read", &path),
        }
    }

    /// A property as it applies to `app`: the app's value, else the global
    /// one, else `None` (the caller's default applies). An empty value
    /// counts as unset, as Dokku's `fn-plugin-property-get-default` does.
    pub fn app_property(&self, plugin: &str, app: &AppName, key: &str) -> Result<Option<String>> {
        Ok(self.layered_property(plugin, app, key)?.resolved())
    }

    /// A property's app and global values, for reports that show both and
    /// what they resolve to.
    pub fn layered_property(&self, plugin: &str, app: &AppName, key: &str) -> Result<Layered> {
        let value = |scope: &Scope| -> Result<String> {
            Ok(self.property(plugin, scope, key)?.unwrap_or_default())
        };
        Ok(Layered {
            app: value(&Scope::App(app.clone()))?,
            global: value(&Scope::Global)?,
        })
    }

    /// Sets a property; an empty value deletes it, as Dokku does.
    pub fn set_property(&self, plugin: &str, scope: &Scope, key: &str, value: &str) -> Result<()> {
        let path = self.property_path(plugin, scope, key);
        if value.is_empty() {
            remove_file(&path).map(drop)
        } else {
            write_atomic(&path, value.as_bytes(), FILE_MODE)
        }
    }

    /// The keys `plugin` has stored for `scope`, sorted; none when it has
    /// stored nothing.
    pub fn property_keys(&self, plugin: &str, scope: &Scope) -> Result<Vec<String>> {
        let dir = self.property_path(plugin, scope, "");
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at("Unable to list", &dir),
        };
        let mut keys = Vec::new();
        for entry in listing {
            let name = entry.at("Unable to list", &dir)?.file_name();
            let name = name.to_string_lossy();
            // Dot files are writers' temp files (`store::atomic`).
            if !name.starts_with('.') {
                keys.push(name.into_owned());
            }
        }
        keys.sort();
        Ok(keys)
    }

    pub fn delete_property(&self, plugin: &str, scope: &Scope, key: &str) -> Result<()> {
        remove_file(&self.property_path(plugin, scope, key)).map(drop)
    }

    // ----- environment -----

    fn env_path(&self, scope: &Scope) -> PathBuf {
        self.lib_root
            .join("config")
            .join(scope.dir_name())
            .join("ENV")
    }

    /// The scope's config vars; empty when the file does not exist. Keys
    /// that break Dokku's key rule are dropped, as Dokku drops them.
    pub fn env(&self, scope: &Scope) -> Result<Env> {
        let path = self.env_path(scope);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Env::new()),
            Err(e) => return Err(e).at("Unable to read", &path),
        };
        let mut env = dotenv::parse(&text)
            .map_err(|e| Error::fail(format!("Unable to parse {}: {e}", path.display())))?;
        env.retain(|key, _| dotenv::is_valid_key(key));
        Ok(env)
    }

    /// Replaces the scope's ENV file. Call under [`Store::lock`] when the
    /// new contents derive from the old.
    pub fn write_env(&self, scope: &Scope, env: &Env) -> Result<()> {
        write_atomic(
            &self.env_path(scope),
            dotenv::serialize(env).as_bytes(),
            FILE_MODE,
        )
    }

    /// Global vars overlaid by the app's.
    pub fn merged_env(&self, app: &AppName) -> Result<Env> {
        let mut env = self.env(&Scope::Global)?;
        env.extend(self.env(&Scope::App(app.clone()))?);
        Ok(env)
    }

    // ----- whole-app operations -----

    /// Every per-app location in the store, for destroy, rename and clone:
    /// the app folder, the ENV file, and `<plugin>/<app>` under `config/`
    /// and `data/`.
    fn app_locations(&self, app: &AppName) -> Result<Vec<PathBuf>> {
        let mut found: Vec<PathBuf> = [self.app_dir(app), self.env_path(&Scope::App(app.clone()))]
            .into_iter()
            .filter(|p| p.exists())
            .collect();
        for area in ["config", "data"] {
            let base = self.lib_root.join(area);
            let plugins = match fs::read_dir(&base) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e).at("Unable to list", &base),
            };
            for plugin in plugins {
                let plugin = plugin.at("Unable to list", &base)?.path();
                // `data/storage/<name>` holds a storage entry's files, often
                // named after an app but never the app's: it outlives the
                // app, as in Dokku. `config/storage/entries` is the entry
                // registry: of an app called `entries` (made before the
                // name was reserved) only its mounts file is the app's.
                let storage = plugin.file_name() == Some("storage".as_ref());
                if storage && area == "data" {
                    continue;
                }
                if storage && app.as_str() == STORAGE_REGISTRY {
                    let mounts = plugin.join(STORAGE_REGISTRY).join("mounts");
                    if mounts.is_file() {
                        found.push(mounts);
                    }
                    continue;
                }
                let candidate = plugin.join(app.as_str());
                if candidate.is_dir() {
                    found.push(candidate);
                }
            }
        }
        Ok(found)
    }

    /// Deletes everything the store holds for `app`.
    pub fn remove_app(&self, app: &AppName) -> Result<()> {
        for path in self.app_locations(app)? {
            remove_path(&path)?;
        }
        self.remove_env_dir_if_empty(app);
        Ok(())
    }

    /// Moves everything the store holds for `old` to `new`.
    pub fn rename_app(&self, old: &AppName, new: &AppName) -> Result<()> {
        for from in self.app_locations(old)? {
            let to = self.relocate(&from, old, new);
            if let Some(parent) = to.parent() {
                ensure_dir(parent)?;
            }
            atomic::rename_atomic(&from, &to)?;
        }
        self.remove_env_dir_if_empty(old);
        Ok(())
    }

    /// Copies the ENV file and the properties of `old` to `new`, except the
    /// properties of the plugins in `skip_plugins`. Data and the app folder
    /// are not copied: a clone starts without a release.
    pub fn copy_app_config(
        &self,
        old: &AppName,
        new: &AppName,
        skip_plugins: &[&str],
    ) -> Result<()> {
        let config = self.lib_root.join("config");
        for from in self.app_locations(old)? {
            if !from.starts_with(&config) {
                continue;
            }
            // `config/<plugin>/<app>`, or the app's file in a plugin's
            // folder: the first component names the plugin.
            let plugin = from
                .strip_prefix(&config)
                .ok()
                .and_then(|rest| rest.iter().next())
                .and_then(|n| n.to_str());
            if plugin.is_some_and(|p| skip_plugins.contains(&p)) {
                continue;
            }
            let to = self.relocate(&from, old, new);
            copy_tree(&from, &to)?;
        }
        Ok(())
    }

    /// `config/<app>/` held only ENV; it stays when anything else lives there
    /// (an app named like a plugin shares its folder with that plugin).
    fn remove_env_dir_if_empty(&self, app: &AppName) {
        if let Some(dir) = self.env_path(&Scope::App(app.clone())).parent() {
            let _ = fs::remove_dir(dir);
        }
    }

    /// The path `from` (a location of `old`) would have for `new`.
    fn relocate(&self, from: &Path, old: &AppName, new: &AppName) -> PathBuf {
        if *from == self.env_path(&Scope::App(old.clone())) {
            return self.env_path(&Scope::App(new.clone()));
        }
        let registry = self.lib_root.join("config/storage").join(STORAGE_REGISTRY);
        if old.as_str() == STORAGE_REGISTRY && from.parent() == Some(registry.as_path()) {
            let file = from.file_name().unwrap_or_default();
            return registry.with_file_name(new.as_str()).join(file);
        }
        from.with_file_name(new.as_str())
    }
}

/// `config/storage/entries`: the storage entry registry, which an app
/// called `entries` shares (`app_name::RESERVED`).
const STORAGE_REGISTRY: &str = "entries";

fn remove_path(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.at("Unable to remove", path)
}

/// Copies a file, or a folder of files, with each file written atomically.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).at("Unable to read", from)?;
    if meta.is_dir() {
        ensure_dir(to)?;
        for entry in fs::read_dir(from).at("Unable to list", from)? {
            let entry = entry.at("Unable to list", from)?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else if meta.is_file() {
        let bytes = fs::read(from).at("Unable to read", from)?;
        write_atomic(to, &bytes, FILE_MODE)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"), dir.path().join("lib"));
        (dir, store)
    }

    fn app(name: &str) -> AppName {
        AppName::new_app(name).unwrap()
    }

    #[test]
    fn properties_are_raw_files_and_empty_deletes() {
        let (_dir, store) = store();
        let scope = Scope::App(app("demo"));
        store.set_property("ps", &scope, "scale", "web=1").unwrap();
        let path = store.lib_root().join("config/ps/demo/scale");
        assert_eq!(fs::read_to_string(&path).unwrap(), "web=1");
        store.set_property("ps", &scope, "scale", "").unwrap();
        assert!(!path.exists());
        assert_eq!(store.property("ps", &scope, "scale").unwrap(), None);
    }

    #[test]
    fn app_named_like_a_plugin_keeps_other_apps_properties() {
        let (_dir, store) = store();
        for name in ["apps", "other"] {
            store.create_app_dir(&app(name)).unwrap();
            store
                .set_property("apps", &Scope::App(app(name)), "created-at", "1")
                .unwrap();
            store
                .write_env(&Scope::App(app(name)), &[("K".into(), "v".into())].into())
                .unwrap();
        }
        store.rename_app(&app("apps"), &app("renamed")).unwrap();
        assert_eq!(
            store
                .property("apps", &Scope::App(app("other")), "created-at")
                .unwrap()
                .as_deref(),
            Some("1")
        );
        assert_eq!(store.env(&Scope::App(app("renamed"))).unwrap()["K"], "v");
        store.remove_app(&app("renamed")).unwrap();
        assert!(
            store
                .property("apps", &Scope::App(app("other")), "created-at")
                .unwrap()
                .is_some()
        );
        assert_eq!(store.apps().unwrap(), vec![app("other")]);
    }

    #[test]
    fn an_app_called_entries_owns_only_its_mounts_in_the_registry() {
        let (_dir, store) = store();
        let entries = AppName::lookup("entries").unwrap();
        store.create_app_dir(&entries).unwrap();
        let scope = Scope::App(entries.clone());
        store
            .set_property("storage", &scope, "mounts", "m\n")
            .unwrap();
        let registry = store.lib_root().join("config/storage/entries");
        write_atomic(&registry.join("kept.json"), b"{}", FILE_MODE).unwrap();
        store.copy_app_config(&entries, &app("copy"), &[]).unwrap();
        store.rename_app(&entries, &app("moved")).unwrap();
        for new in ["copy", "moved"] {
            let mounts = store.property("storage", &Scope::App(app(new)), "mounts");
            assert_eq!(mounts.unwrap().as_deref(), Some("m\n"), "{new}");
        }
        assert!(!registry.join("mounts").exists());
        assert!(registry.join("kept.json").exists());
        store.create_app_dir(&entries).unwrap();
        store
            .set_property("storage", &scope, "mounts", "m\n")
            .unwrap();
        store.remove_app(&entries).unwrap();
        assert!(!registry.join("mounts").exists());
        assert!(registry.join("kept.json").exists());
    }
}
