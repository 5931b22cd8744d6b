//! The files a release carries besides its image — `Procfile`, `app.json`,
//! the app's `nginx.conf.hbs` — kept where Dokku keeps them
//! (`data/ps/<app>/Procfile`, `data/app-json/<app>/app.json`,
//! `data/nginx-vhosts/<app>/nginx.conf.hbs`) and always describing the
//! release that runs.
//!
//! A build *stages* the commit's copies next to them (`<name>.<tag>`, or
//! `<name>.<tag>.missing` when the commit has none); the deploy of that tag
//! reads the staged copies, promotes them when it switches traffic, and a
//! failed deploy discards them. So a failed deploy never leaves the running
//! release described by the failed commit's files (as Dokku's
//! `.<DOKKU_PID>` / `.missing` files, promoted at core-post-deploy).

use std::path::PathBuf;

use crate::app_name::AppName;
use crate::error::Result;
use crate::store::atomic::{FILE_MODE, remove_file, write_atomic};
use crate::store::{Scope, Store};

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReleaseFile {
    plugin: &'static str,
    name: &'static str,
}

pub const PROCFILE: ReleaseFile = ReleaseFile {
    plugin: "ps",
    name: "Procfile",
};
pub const APP_JSON: ReleaseFile = ReleaseFile {
    plugin: "app-json",
    name: "app.json",
};
pub const NGINX_TEMPLATE: ReleaseFile = ReleaseFile {
    plugin: "nginx-vhosts",
    name: "nginx.conf.hbs",
};
const ALL: [ReleaseFile; 3] = [PROCFILE, APP_JSON, NGINX_TEMPLATE];

fn current(store: &Store, app: &AppName, file: ReleaseFile) -> PathBuf {
    store
        .data_dir(file.plugin, &Scope::App(app.clone()))
        .join(file.name)
}

fn staged(store: &Store, app: &AppName, file: ReleaseFile, tag: &str) -> PathBuf {
    current(store, app, file).with_file_name(format!("{}.{tag}", file.name))
}

fn missing(store: &Store, app: &AppName, file: ReleaseFile, tag: &str) -> PathBuf {
    current(store, app, file).with_file_name(format!("{}.{tag}.missing", file.name))
}

/// Stages the commit's copy of `file` for the release `tag`.
pub fn stage(
    store: &Store,
    app: &AppName,
    tag: &str,
    file: ReleaseFile,
    contents: Option<&[u8]>,
) -> Result<()> {
    match contents {
        Some(bytes) => write_atomic(&staged(store, app, file, tag), bytes, FILE_MODE),
        None => write_atomic(&missing(store, app, file, tag), b"", FILE_MODE),
    }
}

/// The release `tag`'s copy of `file` if it was staged, else the running
/// release's.
pub fn read(store: &Store, app: &AppName, tag: Option<&str>, file: ReleaseFile) -> Option<String> {
    if let Some(tag) = tag {
        if missing(store, app, file, tag).exists() {
            return None;
        }
        if let Ok(text) = std::fs::read_to_string(staged(store, app, file, tag)) {
            return Some(text);
        }
    }
    std::fs::read_to_string(current(store, app, file)).ok()
}

/// What [`promote`] replaced, to put back if the switch fails.
pub struct Promotion {
    app: AppName,
    tag: String,
    previous: Vec<(ReleaseFile, Option<Vec<u8>>)>,
}

/// Makes the staged files of `tag` the running release's.
pub fn promote(store: &Store, app: &AppName, tag: &str) -> Result<Promotion> {
    let mut previous = Vec::new();
    for file in ALL {
        let (staged, missing) = (
            staged(store, app, file, tag),
            missing(store, app, file, tag),
        );
        if !staged.exists() && !missing.exists() {
            continue;
        }
        let target = current(store, app, file);
        previous.push((file, std::fs::read(&target).ok()));
        if staged.exists() {
            crate::store::atomic::rename_atomic(&staged, &target)?;
        } else {
            remove_file(&target)?;
        }
        remove_file(&missing)?;
    }
    Ok(Promotion {
        app: app.clone(),
        tag: tag.to_string(),
        previous,
    })
}

impl Promotion {
    /// Puts the running release's files back (the switch failed).
    pub fn undo(self, store: &Store) -> Result<()> {
        for (file, before) in self.previous {
            let target = current(store, &self.app, file);
            match before {
                Some(bytes) => write_atomic(&target, &bytes, FILE_MODE)?,
                None => {
                    remove_file(&target)?;
                }
            }
        }
        discard(store, &self.app, &self.tag)
    }
}

/// Drops what a failed deploy of `tag` staged.
pub fn discard(store: &Store, app: &AppName, tag: &str) -> Result<()> {
    for file in ALL {
        remove_file(&staged(store, app, file, tag))?;
        remove_file(&missing(store, app, file, tag))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_replace_the_running_ones_only_when_promoted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"), dir.path().join("lib"));
        let app = AppName::new_app("demo").unwrap();
        stage(&store, &app, "t1", PROCFILE, Some(b"web: one")).unwrap();
        stage(&store, &app, "t1", APP_JSON, Some(b"{}")).unwrap();
        promote(&store, &app, "t1").unwrap();
        assert_eq!(
            read(&store, &app, None, PROCFILE).as_deref(),
            Some("web: one")
        );

        stage(&store, &app, "t2", PROCFILE, Some(b"web: two")).unwrap();
        stage(&store, &app, "t2", APP_JSON, None).unwrap();
        assert_eq!(
            read(&store, &app, Some("t2"), PROCFILE).as_deref(),
            Some("web: two")
        );
        assert_eq!(read(&store, &app, Some("t2"), APP_JSON), None);
        assert_eq!(
            read(&store, &app, None, PROCFILE).as_deref(),
            Some("web: one")
        );

        let promotion = promote(&store, &app, "t2").unwrap();
        assert_eq!(read(&store, &app, None, APP_JSON), None);
        promotion.undo(&store).unwrap();
        assert_eq!(
            read(&store, &app, None, PROCFILE).as_deref(),
            Some("web: one")
        );
        assert_eq!(read(&store, &app, None, APP_JSON).as_deref(), Some("{}"));

        stage(&store, &app, "t3", PROCFILE, Some(b"web: three")).unwrap();
        discard(&store, &app, "t3").unwrap();
        assert_eq!(
            read(&store, &app, Some("t3"), PROCFILE).as_deref(),
            Some("web: one")
        );
    }
}
