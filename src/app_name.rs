//! App names, checked once at the edge against Dokku's rule.
//!
//! An [`AppName`] is always safe to join onto a path: it starts with
//! `[a-z0-9]` and holds only `[a-z0-9.-]` (plus `_` for legacy names), so it
//! can never be empty, absolute, or contain `/` or a leading `.`.

use std::fmt;

use crate::error::{Error, Result};

pub const BAD_NAME: &str = "App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens";
pub const NO_NAME: &str = "Please specify an app to run the command on";

/// Names no new app may take, and why: an app's storage attachments live
/// at `config/storage/<app>/mounts`, and `config/storage/entries` is the
/// storage entry registry (where Dokku 0.38 keeps it). An app of that name
/// made before the rule still works (`Store::app_locations`).
pub const RESERVED: &[(&str, &str)] = &[(
    "entries",
    "config/storage/entries holds the storage entries",
)];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppName(String);

impl AppName {
    /// A name a new app may take: `^[a-z0-9][a-z0-9.-]*$`, and not a
    /// [`RESERVED`] one.
    pub fn new_app(name: &str) -> Result<Self> {
        if !is_valid(name, false) {
            return Err(Error::fail(BAD_NAME));
        }
        if let Some((_, why)) = RESERVED.iter().find(|(reserved, _)| *reserved == name) {
            return Err(Error::fail(format!(
                "App name {name} is reserved: {why}, choose another name"
            )));
        }
        Ok(AppName(name.to_string()))
    }

    /// A name an existing app may have: the creation rule, plus `_` for
    /// apps made by old Dokku versions.
    pub fn lookup(name: &str) -> Result<Self> {
        if is_valid(name, true) {
            Ok(AppName(name.to_string()))
        } else {
            Err(Error::fail(BAD_NAME))
        }
    }

    /// The app a git path names: `demo`, `'demo'`, `/demo`, `demo.git`
    /// (what `git-receive-pack` and `git-upload-pack` are given).
    pub fn from_git_path(path: &str) -> Result<AppName> {
        let name = path.trim_matches('\'').trim_start_matches('/');
        let name = name.strip_suffix(".git").unwrap_or(name);
        if name.is_empty() {
            return Err(Error::fail(NO_NAME));
        }
        AppName::lookup(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for AppName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn is_valid(name: &str, allow_underscore: bool) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let body_ok = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '.'
            || c == '-'
            || (allow_underscore && c == '_')
    };
    (first.is_ascii_lowercase() || first.is_ascii_digit()) && chars.all(body_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_from_every_git_path_form() {
        for path in ["demo", "'demo'", "/demo", "demo.git", "'/demo.git'"] {
            assert_eq!(
                AppName::from_git_path(path).unwrap().as_str(),
                "demo",
                "{path}"
            );
        }
        assert!(AppName::from_git_path("../etc").is_err());
        assert!(AppName::from_git_path("''").is_err());
        assert!(AppName::from_git_path("a/b").is_err());
    }

    #[test]
    fn accepts_dokku_names() {
        for name in ["demo", "a", "0app", "my-app.example.com", "a--b"] {
            assert!(AppName::new_app(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn refuses_names_dokku_refuses() {
        for name in [
            "", "Demo", "-app", ".app", "Bad;id", "a b", "a/b", "..", "a_b", "ä", "app\n",
        ] {
            assert!(AppName::new_app(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn reserved_names_can_be_looked_up_but_not_created() {
        assert!(
            AppName::new_app("entries")
                .unwrap_err()
                .to_string()
                .contains("App name entries is reserved")
        );
        assert!(AppName::lookup("entries").is_ok());
        assert!(AppName::new_app("entries2").is_ok());
    }

    #[test]
    fn legacy_underscore_names_can_be_looked_up_but_not_created() {
        assert!(AppName::lookup("old_app").is_ok());
        assert!(AppName::new_app("old_app").is_err());
        assert!(AppName::lookup("_old").is_err());
    }
}
