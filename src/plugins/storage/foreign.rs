//! The storage of the apps a caller may not use (architecture invariant
//! 7): a `user` key limited by access lists must not reach another app's
//! data through storage, whatever entry name or spelling of the folder it
//! uses. Access is about where the data is: a host folder overlaps another
//! app's when it is that folder, holds it, or lies inside it (compared as
//! written, without `.` or doubled slashes, and where symlinks lead); a
//! docker volume is the app's by its name.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::attachment;
use super::entry::Entry;
use crate::context::Context;
use crate::error::{Error, Result};

/// What the apps outside `access::usable_apps` mount: their entries by
/// name, their host folders (each in its written and resolved forms) and
/// their volumes. Empty for an admin key and the local CLI.
#[derive(Default)]
pub struct Foreign {
    entries: BTreeSet<String>,
    folders: Vec<Vec<PathBuf>>,
    volumes: BTreeSet<String>,
}

impl Foreign {
    pub fn load(ctx: &Context) -> Result<Foreign> {
        let apps = ctx.store.apps()?;
        let usable = crate::access::usable_apps(ctx, apps.clone())?;
        let mut foreign = Foreign::default();
        for app in apps.iter().filter(|app| !usable.contains(app)) {
            for a in attachment::read(ctx, app)? {
                // An attachment whose entry is gone still names its entry,
                // and (an old line) perhaps its folder.
                if let Ok(source) = attachment::source(ctx, &a) {
                    foreign.add_source(&source);
                }
                if let Some(host) = &a.host_path {
                    foreign.add_source(host);
                }
                foreign.entries.insert(a.entry_name);
            }
        }
        Ok(foreign)
    }

    fn add_source(&mut self, source: &str) {
        if source.starts_with('/') {
            self.folders.push(forms(Path::new(source)));
        } else {
            self.volumes.insert(source.to_string());
        }
    }

    /// Whether `source` (a host path or a volume name) overlaps what an
    /// app the caller may not use mounts.
    pub fn overlaps(&self, source: &str) -> bool {
        if !source.starts_with('/') {
            return self.volumes.contains(source);
        }
        let given = forms(Path::new(source));
        self.folders.iter().any(|theirs| {
            theirs
                .iter()
                .any(|t| given.iter().any(|g| g.starts_with(t) || t.starts_with(g)))
        })
    }

    /// Whether the caller may use `entry`: no app it may not use mounts
    /// the entry, or anything its folder overlaps.
    pub fn may_use(&self, entry: &Entry) -> bool {
        !self.entries.contains(&entry.name) && !self.overlaps(&entry.host_path)
    }

    /// Refuses `command` on `source` when it overlaps another app's
    /// storage; `shown` is what the message calls it.
    fn check(&self, command: &str, shown: &str, source: &str) -> Result<()> {
        if self.overlaps(source) {
            return Err(Error::fail(format!(
                "You may not run {command} on {shown}: it overlaps the storage of an app you may not use"
            )));
        }
        Ok(())
    }
}

/// Refuses `command` on `source` (a host path or volume name the caller
/// gave) when it is, holds, or lies inside the storage of an app the
/// caller may not use.
pub fn check_path_access(ctx: &Context, command: &str, source: &str) -> Result<()> {
    Foreign::load(ctx)?.check(command, source, source)
}

/// [`check_path_access`] for an entry's folder or volume; the message
/// names the entry, never where it is.
pub fn check_entry_path(ctx: &Context, command: &str, entry: &Entry) -> Result<()> {
    Foreign::load(ctx)?.check(
        command,
        &format!("storage entry {}", entry.name),
        &entry.host_path,
    )
}

/// `path` as written, without `.`, doubled or trailing slashes and with
/// `..` taken back; and, when it differs, where its longest existing
/// ancestor's symlinks lead, with the rest appended.
fn forms(path: &Path) -> Vec<PathBuf> {
    let mut lexical = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other),
        }
    }
    let mut found = vec![lexical.clone()];
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let resolved: PathBuf = real.iter().chain(rest.iter().rev().copied()).collect();
            if resolved != lexical {
                found.push(resolved);
            }
            break;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn foreign(sources: &[&str]) -> Foreign {
        let mut foreign = Foreign::default();
        for source in sources {
            foreign.add_source(source);
        }
        foreign
    }

    #[test]
    fn folders_overlap_when_equal_holding_or_inside() {
        let theirs = foreign(&["/nonexistent-berth/storage/foo", "vol-a"]);
        for given in [
            "/nonexistent-berth/storage/foo",
            "/nonexistent-berth/storage/foo/",
            "/nonexistent-berth/storage/./foo",
            "/nonexistent-berth//storage/foo/sub",
            "/nonexistent-berth/storage",
            "/nonexistent-berth/storage/x/../foo",
            "vol-a",
        ] {
            assert!(theirs.overlaps(given), "{given}");
        }
        for given in [
            "/nonexistent-berth/storage/foobar",
            "/nonexistent-berth/storage/bar",
            "vol-b",
            "foo",
        ] {
            assert!(!theirs.overlaps(given), "{given}");
        }
    }

    #[test]
    fn symlinks_are_judged_by_where_they_lead() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let theirs = foreign(&[&real.display().to_string()]);
        let through_link = dir.path().join("link/sub").display().to_string();
        assert!(theirs.overlaps(&through_link));
        let theirs = foreign(&[&dir.path().join("link").display().to_string()]);
        assert!(theirs.overlaps(&real.join("x").display().to_string()));
    }
}
