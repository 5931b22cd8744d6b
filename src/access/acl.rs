//! Per-app access lists, in the community `dokku-acl` plugin's layout and
//! with its settings, so its users keep their files and habits.
//!
//! - An app's list is the folder `$DOKKU_ROOT/<app>/acl/`, one empty file
//!   per key name allowed (`acl:add APP USER`).
//! - An app with a list is open to its users only; an app without one to
//!   every key, unless `DOKKU_SUPER_USER` is set: then only that user may
//!   use apps without a list.
//! - `DOKKU_SUPER_USER` may use every app; `DOKKU_ACL_USER_COMMANDS` (any
//!   user, any time) and `DOKKU_ACL_PER_APP_COMMANDS` (on an app the user
//!   may use), when set, are the only commands `user` keys may run.
//!
//! Settings come from the environment or, as with Dokku, from
//! `$DOKKU_ROOT/.dokkurc/acl` (`export NAME=value` lines, read as data,
//! never sourced by a shell). `admin` keys and the command line are not
//! bound by any of this: they manage the lists.

use std::path::PathBuf;

use crate::app_name::AppName;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;
use crate::store::atomic::{ensure_dir, remove_file, write_atomic};

/// The settings dokku-acl reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub super_user: Option<String>,
    pub user_commands: Option<Vec<String>>,
    pub per_app_commands: Option<Vec<String>>,
}

impl Settings {
    /// The environment's values, else `.dokkurc/acl`'s.
    pub fn load(store: &Store) -> Result<Settings> {
        let path = store.dokku_root().join(".dokkurc/acl");
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => crate::dotenv::parse(&text)
                .map_err(|e| Error::fail(format!("Unable to read {}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e).at("Unable to read", &path),
        };
        let value = |name: &str| {
            std::env::var(name)
                .ok()
                .or_else(|| file.get(name).cloned())
                .filter(|v| !v.trim().is_empty())
        };
        let list =
            |name: &str| value(name).map(|v| v.split_whitespace().map(str::to_string).collect());
        Ok(Settings {
            super_user: value("DOKKU_SUPER_USER"),
            user_commands: list("DOKKU_ACL_USER_COMMANDS"),
            per_app_commands: list("DOKKU_ACL_PER_APP_COMMANDS"),
        })
    }
}

fn dir(store: &Store, app: &AppName) -> PathBuf {
    store.app_dir(app).join("acl")
}

/// The key names on `app`'s list, sorted; empty when it has none.
pub fn users(store: &Store, app: &AppName) -> Result<Vec<String>> {
    let dir = dir(store, app);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to list", &dir),
    };
    let mut users: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|name| !name.starts_with('.'))
        .collect();
    users.sort();
    Ok(users)
}

/// Puts `user` on `app`'s list; `false` when it was there already.
pub fn add(store: &Store, app: &AppName, user: &str) -> Result<bool> {
    let path = dir(store, app).join(user);
    if path.exists() {
        return Ok(false);
    }
    ensure_dir(&dir(store, app))?;
    write_atomic(&path, b"", 0o644)?;
    Ok(true)
}

/// Takes `user` off `app`'s list; `false` when it was not there.
pub fn remove(store: &Store, app: &AppName, user: &str) -> Result<bool> {
    remove_file(&dir(store, app).join(user))
}

/// Whether key `user` may use `app` (push to it, run its commands).
pub fn permits(store: &Store, settings: &Settings, app: &AppName, user: &str) -> Result<bool> {
    if settings.super_user.as_deref() == Some(user) {
        return Ok(true);
    }
    let listed = users(store, app)?;
    Ok(if listed.is_empty() {
        settings.super_user.is_none()
    } else {
        listed.iter().any(|u| u == user)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Store, AppName) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"), dir.path().join("lib"));
        let app = AppName::new_app("demo").unwrap();
        store.create_app_dir(&app).unwrap();
        (dir, store, app)
    }

    #[test]
    fn open_until_listed_then_only_for_the_list() {
        let (_dir, store, app) = setup();
        let open = Settings::default();
        assert!(permits(&store, &open, &app, "bob").unwrap());
        assert!(add(&store, &app, "ada").unwrap());
        assert!(!add(&store, &app, "ada").unwrap());
        assert!(permits(&store, &open, &app, "ada").unwrap());
        assert!(!permits(&store, &open, &app, "bob").unwrap());
        assert_eq!(users(&store, &app).unwrap(), vec!["ada"]);
        assert!(remove(&store, &app, "ada").unwrap());
        assert!(permits(&store, &open, &app, "bob").unwrap());
    }

    #[test]
    fn a_super_user_closes_unlisted_apps_to_everyone_else() {
        let (_dir, store, app) = setup();
        let settings = Settings {
            super_user: Some("root-key".into()),
            ..Settings::default()
        };
        assert!(!permits(&store, &settings, &app, "bob").unwrap());
        assert!(permits(&store, &settings, &app, "root-key").unwrap());
        add(&store, &app, "bob").unwrap();
        assert!(permits(&store, &settings, &app, "bob").unwrap());
        assert!(permits(&store, &settings, &app, "root-key").unwrap());
    }

    #[test]
    fn settings_are_read_from_dokkurc_as_data() {
        let (_dir, store, _) = setup();
        let rc = store.dokku_root().join(".dokkurc");
        std::fs::create_dir_all(&rc).unwrap();
        std::fs::write(
            rc.join("acl"),
            "export DOKKU_SUPER_USER=puck\nexport DOKKU_ACL_USER_COMMANDS=\"help version\"\nexport X=$(touch /tmp/pwned)\n",
        )
        .unwrap();
        let settings = Settings::load(&store).unwrap();
        assert_eq!(settings.super_user.as_deref(), Some("puck"));
        assert_eq!(
            settings.user_commands,
            Some(vec!["help".to_string(), "version".to_string()])
        );
        assert_eq!(settings.per_app_commands, None);
    }
}
