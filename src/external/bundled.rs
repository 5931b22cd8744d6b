//! What ships inside the binary for external plugins: Dokku's shell
//! helpers (`plugins/common/`, `plugins/config/`), installed under
//! `$PLUGIN_CORE_AVAILABLE_PATH`, and the bundled plugins
//! (`plugins/maintenance/`, `plugins/http-auth/`), installed and enabled
//! by default like any plugin a user installs.
//!
//! Bundled plugins are installed once per berth version
//! ([`install_bundled`], run by `berth server` and `plugin:install`):
//! a plugin installed before is refreshed in place (its enabled state
//! kept), a plugin the admin uninstalled stays uninstalled. The record of
//! what was installed is `plugins/.bundled`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::external::Paths;
use crate::store::Store;
use crate::store::atomic::{FILE_MODE, write_atomic};

/// One file of a bundled folder: its path inside the folder, contents,
/// and whether it is executable.
pub struct File {
    pub path: &'static str,
    pub contents: &'static [u8],
    pub executable: bool,
}

macro_rules! files {
    ($dir:literal: $($path:literal $(+$exec:ident)?),* $(,)?) => {
        &[$(File {
            path: $path,
            contents: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/", $dir, "/", $path)),
            executable: files!(@executable $($exec)?),
        }),*]
    };
    (@executable x) => { true };
    (@executable) => { false };
}

/// A folder under `plugins/` in the repository, compiled in.
pub struct Folder {
    pub name: &'static str,
    pub files: &'static [File],
}

/// Dokku's shell helpers for plugins, installed under
/// `$PLUGIN_CORE_AVAILABLE_PATH`: `common/functions`,
/// `common/property-functions` and `config/functions`.
pub static CORE_HELPERS: &[Folder] = &[
    Folder {
        name: "common",
        files: files!("common": "functions", "property-functions"),
    },
    Folder {
        name: "config",
        files: files!("config": "functions"),
    },
];

/// The plugins berth installs and enables by default.
pub static PLUGINS: &[Folder] = &[
    Folder {
        name: "http-auth",
        files: files!("http-auth":
            "plugin.toml",
            "commands" +x,
            "help-functions",
            "internal-functions",
            "post-app-rename" +x,
            "subcommands/add-user" +x,
            "subcommands/default" +x,
            "subcommands/disable" +x,
            "subcommands/enable" +x,
            "subcommands/remove-user" +x,
            "subcommands/report" +x,
        ),
    },
    Folder {
        name: "maintenance",
        files: files!("maintenance":
            "plugin.toml",
            "commands" +x,
            "help-functions",
            "internal-functions",
            "post-app-rename" +x,
            "subcommands/custom-page" +x,
            "subcommands/default" +x,
            "subcommands/disable" +x,
            "subcommands/enable" +x,
            "subcommands/off" +x,
            "subcommands/on" +x,
            "subcommands/report" +x,
        ),
    },
];

fn write_folder(folder: &Folder, dir: &Path) -> Result<()> {
    for file in folder.files {
        let path = dir.join(file.path);
        let mode = if file.executable { 0o755 } else { FILE_MODE };
        let current = fs::read(&path).ok();
        let current_mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        if current.as_deref() != Some(file.contents) || current_mode.ok() != Some(mode) {
            write_atomic(&path, file.contents, mode)?;
        }
    }
    Ok(())
}

/// Makes sure what plugin executables rely on is in place: the shell
/// helpers at `$PLUGIN_CORE_AVAILABLE_PATH/common/` and the `dokku` and
/// `plugn` commands in `$PLUGIN_CORE_PATH/bin`, both from this binary.
/// Cheap when nothing changed: a read and compare per file.
pub fn ensure_core_files(store: &Store) -> Result<()> {
    let paths = Paths::new(store);
    for folder in CORE_HELPERS {
        write_folder(folder, &paths.core_available.join(folder.name))?;
    }
    let bin = paths.bin();
    let Ok(exe) = std::env::current_exe() else {
        return Ok(());
    };
    for name in ["dokku", "plugn"] {
        let link = bin.join(name);
        if fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
            crate::store::atomic::replace_symlink(&exe, &link)?;
        }
    }
    Ok(())
}

fn record_path(paths: &Paths) -> PathBuf {
    paths.plugin_path.join(".bundled")
}

/// Installs (or refreshes) the bundled plugins; see the module docs.
/// Returns the names newly installed.
pub fn install_bundled(store: &Store) -> Result<Vec<String>> {
    let paths = Paths::new(store);
    // Two servers starting together on a new volume install once.
    let _lock = paths.lock()?;
    ensure_core_files(store)?;
    let record = fs::read_to_string(record_path(&paths)).unwrap_or_default();
    let known: Vec<&str> = record.lines().collect();
    let mut installed = Vec::new();
    for folder in PLUGINS {
        let dir = paths.available.join(folder.name);
        if dir.is_dir() {
            write_folder(folder, &dir)?;
        } else if !known.contains(&folder.name) {
            write_folder(folder, &dir)?;
            super::enable(&paths, folder.name)?;
            installed.push(folder.name.to_string());
        }
    }
    let names: Vec<&str> = PLUGINS.iter().map(|f| f.name).collect();
    let text = format!("{}\n", names.join("\n"));
    if record != text {
        write_atomic(&record_path(&paths), text.as_bytes(), FILE_MODE)?;
    }
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in the repository's bundled folders is compiled in, so a
    /// file added there cannot be forgotten in the lists above.
    #[test]
    fn lists_match_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
        for folder in PLUGINS.iter().chain(CORE_HELPERS) {
            let mut on_disk = Vec::new();
            collect(&root.join(folder.name), Path::new(""), &mut on_disk);
            on_disk.sort();
            let mut listed: Vec<String> = folder.files.iter().map(|f| f.path.to_string()).collect();
            listed.sort();
            assert_eq!(listed, on_disk, "plugins/{}", folder.name);
            for file in folder.files {
                let mode = fs::metadata(root.join(folder.name).join(file.path))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(
                    mode & 0o100 != 0,
                    file.executable,
                    "executable bit of plugins/{}/{}",
                    folder.name,
                    file.path
                );
            }
        }
    }

    fn collect(dir: &Path, prefix: &Path, found: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let rel = prefix.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                collect(&entry.path(), &rel, found);
            } else {
                found.push(rel.to_string_lossy().into_owned());
            }
        }
    }
}
