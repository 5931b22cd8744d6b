//! Apps' bare git repositories, read with git2: no checkout, no `git`
//! subprocess for reading.
//!
//! The pre-receive hook is a symlink to the berth binary itself, so a push
//! runs berth with argv only: no hook script, no shell.
//!
//! Ownership: on a Dokku host the repositories belong to the `dokku` user
//! while berth may run as root. git's and libgit2's "dubious ownership"
//! checks would then refuse them, so berth makes its own check instead
//! ([`check_owner`]: the repository is the running user's, root's or the
//! state user's) and tells git the repository is safe (`git_in`).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Once;

use git2::{ObjectType, Oid, Repository, RepositoryInitOptions, TreeWalkMode, TreeWalkResult};

use crate::error::{Error, IoContext, Result};

pub struct AppRepo {
    repo: Repository,
}

/// `git` for the app repository at `dir`, which [`check_owner`] allows:
/// `-c safe.directory=<dir>` (command-line configuration is one git
/// honours for it), so a repository of the state user works for root.
pub fn git_in(dir: &Path) -> Result<std::process::Command> {
    check_owner(dir)?;
    let mut setting = OsString::from("safe.directory=");
    setting.push(dir);
    let mut git = std::process::Command::new("git");
    git.arg("-c").arg(setting);
    Ok(git)
}

/// berth's ownership check, in place of libgit2's and git's: the
/// repository folder belongs to the running user, root or the state user.
fn check_owner(dir: &Path) -> Result<()> {
    let Ok(meta) = std::fs::metadata(dir) else {
        // A repository about to be made (or missing: opening says so).
        return Ok(());
    };
    let owner = meta.uid();
    let me = nix::unistd::geteuid().as_raw();
    let state = crate::store::atomic::state_owner().map(|(uid, _)| uid.as_raw());
    if owner == me || owner == 0 || Some(owner) == state {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "Refusing the repository {}: it belongs to uid {owner}, not to berth or the state user",
            dir.display()
        )))
    }
}

/// libgit2's own owner check off, once: [`check_owner`] is made instead.
fn trust_checked_owners() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: called before any repository is opened by this process's
        // threads that could race it (Once), and only for repositories
        // check_owner accepted.
        let _ = unsafe { git2::opts::set_verify_owner_validation(false) };
    });
}

impl AppRepo {
    /// Makes `dir` a bare repository (when it is not one yet) and points its
    /// pre-receive hook at the running berth binary.
    pub fn init(dir: &Path) -> Result<()> {
        if !dir.join("HEAD").exists() {
            let mut options = RepositoryInitOptions::new();
            options.bare(true).no_reinit(false).initial_head("master");
            Repository::init_opts(dir, &options)
                .map_err(|e| git_error("Unable to initialise", dir, e))?;
            crate::store::atomic::give_tree_to_state_user(dir)?;
        }
        install_hook(dir)
    }

    /// Removes ref lock files (`refs/**/*.lock`, `packed-refs.lock`) last
    /// modified before `cutoff`: git holds one for the milliseconds of a ref
    /// update, so an old one was left by a push that was killed (a crash of
    /// the platform) and would refuse every later push ("Unable to create
    /// '…lock': File exists"). Returns how many were removed.
    pub fn remove_stale_ref_locks(dir: &Path, cutoff: std::time::SystemTime) -> Result<usize> {
        fn walk(dir: &Path, cutoff: std::time::SystemTime, removed: &mut usize) -> Result<()> {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e).at("Unable to list", dir),
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    walk(&path, cutoff, removed)?;
                } else if path.extension().is_some_and(|e| e == "lock") && is_older(&meta, cutoff) {
                    crate::store::atomic::remove_file(&path)?;
                    *removed += 1;
                }
            }
            Ok(())
        }
        fn is_older(meta: &std::fs::Metadata, cutoff: std::time::SystemTime) -> bool {
            meta.modified().is_ok_and(|modified| modified < cutoff)
        }
        let mut removed = 0;
        walk(&dir.join("refs"), cutoff, &mut removed)?;
        let packed = dir.join("packed-refs.lock");
        if let Ok(meta) = std::fs::metadata(&packed)
            && is_older(&meta, cutoff)
        {
            crate::store::atomic::remove_file(&packed)?;
            removed += 1;
        }
        Ok(removed)
    }

    pub fn open(dir: &Path) -> Result<AppRepo> {
        check_owner(dir)?;
        trust_checked_owners();
        // Inside a pre-receive hook the pushed objects are still quarantined;
        // git tells where through the environment.
        let repo = if std::env::var_os("GIT_QUARANTINE_PATH").is_some() {
            Repository::open_from_env()
        } else {
            Repository::open_bare(dir)
        };
        repo.map(|repo| AppRepo { repo })
            .map_err(|e| git_error("Unable to open repository", dir, e))
    }

    /// The commit a revision (sha, branch, tag) names.
    pub fn commit_id(&self, rev: &str) -> Result<Oid> {
        self.repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id())
            .map_err(|e| Error::fail(format!("Unable to find revision {rev}: {}", e.message())))
    }

    /// The first line of `commit`'s message.
    pub fn summary(&self, commit: Oid) -> String {
        self.repo
            .find_commit(commit)
            .ok()
            .and_then(|c| {
                c.summary_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            })
            .unwrap_or_default()
    }

    /// The contents of the file at `path` in `commit`, if it is a file there.
    pub fn file(&self, commit: Oid, path: &str) -> Result<Option<Vec<u8>>> {
        let tree = self.tree(commit)?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::fail(format!(
                    "Unable to read {path}: {}",
                    e.message()
                )));
            }
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| Error::fail(format!("Unable to read {path}: {}", e.message())))?;
        Ok(Some(blob.content().to_vec()))
    }

    fn tree(&self, commit: Oid) -> Result<git2::Tree<'_>> {
        self.repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| Error::fail(format!("Unable to read commit {commit}: {}", e.message())))
    }

    /// The commit's tree — or its folder `dir` (`""` for the root) — as a
    /// tar archive: files with their modes, symlinks as symlinks, submodules
    /// left out. Entries carry the commit's time, so the same commit gives
    /// the same archive (and the builder's cache hits).
    pub fn tree_tar(&self, commit: Oid, dir: &str) -> Result<Vec<u8>> {
        self.tree_tar_with(commit, dir, &[])
    }

    /// [`AppRepo::tree_tar`] with `extra` files (path, content) added
    /// after the tree's, replacing any of the same path. Their time is
    /// fixed so unchanged ones keep the build cache.
    pub fn tree_tar_with(
        &self,
        commit: Oid,
        dir: &str,
        extra: &[(String, Vec<u8>)],
    ) -> Result<Vec<u8>> {
        let root = self.tree(commit)?;
        let tree = if dir.is_empty() {
            root
        } else {
            let folder = root
                .get_path(Path::new(dir))
                .ok()
                .filter(|entry| entry.kind() == Some(ObjectType::Tree))
                .and_then(|entry| self.repo.find_tree(entry.id()).ok());
            folder.ok_or_else(|| {
                Error::fail(format!(
                    "Specified build-dir not found in sourcecode working directory: {dir}"
                ))
            })?
        };
        let time = self
            .repo
            .find_commit(commit)
            .map(|c| c.time().seconds().max(0) as u64)
            .unwrap_or_default();
        let mut tar = tar::Builder::new(Vec::new());
        let mut failure = None;
        tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
            let Ok(name) = entry.name() else {
                return TreeWalkResult::Skip;
            };
            let path = format!("{parent}{name}");
            let result = match entry.kind() {
                Some(ObjectType::Tree) => append_dir(&mut tar, &path, time),
                Some(ObjectType::Blob) => self.append_blob(&mut tar, &path, entry, time),
                // Submodules (commits) are not part of the context.
                _ => Ok(()),
            };
            match result {
                Ok(()) => TreeWalkResult::Ok,
                Err(e) => {
                    failure = Some(e);
                    TreeWalkResult::Abort
                }
            }
        })
        .map_err(|e| match failure.take() {
            Some(f) => f,
            None => Error::fail(format!(
                "Unable to read the tree of {commit}: {}",
                e.message()
            )),
        })?;
        if let Some(f) = failure {
            return Err(f);
        }
        for (path, data) in extra {
            append_file(&mut tar, path, data, 0o644, 0)?;
        }
        tar.into_inner()
            .map_err(|e| Error::fail(format!("Unable to write the build context: {e}")))
    }

    fn append_blob(
        &self,
        tar: &mut tar::Builder<Vec<u8>>,
        path: &str,
        entry: &git2::TreeEntry<'_>,
        time: u64,
    ) -> Result<()> {
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| Error::fail(format!("Unable to read {path}: {}", e.message())))?;
        let mode = entry.filemode();
        if mode != 0o120000 {
            let mode = if mode == 0o100755 { 0o755 } else { 0o644 };
            return append_file(tar, path, blob.content(), mode, time);
        }
        let target = String::from_utf8_lossy(blob.content()).into_owned();
        let mut header = tar::Header::new_gnu();
        header.set_mtime(time);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        tar.append_link(&mut header, path, target)
            .map_err(|e| add_failed(path, e))
    }
}

/// A file of a commit made by berth (`git:from-image`, `git:from-archive`).
pub enum NewFile<'a> {
    File { data: &'a [u8], executable: bool },
    Symlink { target: &'a str },
}

impl AppRepo {
    /// Commits `files` (relative `/`-separated paths) on top of `branch`'s
    /// head, without moving the branch: the caller moves it once the
    /// commit deployed.
    pub fn commit_files<'a>(
        &self,
        branch: &str,
        files: impl IntoIterator<Item = (&'a str, NewFile<'a>)>,
        message: &str,
    ) -> Result<Oid> {
        let fail =
            |e: git2::Error| Error::fail(format!("Unable to write the commit: {}", e.message()));
        let mut root = Dir::default();
        for (path, file) in files {
            let (oid, mode) = match file {
                NewFile::File { data, executable } => (
                    self.repo.blob(data).map_err(fail)?,
                    if executable { 0o100755 } else { 0o100644 },
                ),
                NewFile::Symlink { target } => {
                    (self.repo.blob(target.as_bytes()).map_err(fail)?, 0o120000)
                }
            };
            root.insert(path, oid, mode);
        }
        let tree_id = root.write(&self.repo).map_err(fail)?;
        let tree = self.repo.find_tree(tree_id).map_err(fail)?;
        let parent = self
            .repo
            .find_reference(&format!("refs/heads/{branch}"))
            .ok()
            .and_then(|r| r.peel_to_commit().ok());
        let author = git2::Signature::now("Dokku", "automated@dokku.sh").map_err(fail)?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo
            .commit(None, &author, &author, message, &tree, &parents)
            .map_err(fail)
    }

    /// Points `refs/heads/<branch>` at `commit`.
    pub fn set_branch(&self, branch: &str, commit: Oid) -> Result<()> {
        self.repo
            .reference(
                &format!("refs/heads/{branch}"),
                commit,
                true,
                "berth deploy",
            )
            .map(drop)
            .map_err(|e| Error::fail(format!("Unable to update {branch}: {}", e.message())))
    }
}

/// A folder being assembled into a git tree.
#[derive(Default)]
struct Dir {
    files: std::collections::BTreeMap<String, (Oid, i32)>,
    dirs: std::collections::BTreeMap<String, Dir>,
}

impl Dir {
    fn insert(&mut self, path: &str, oid: Oid, mode: i32) {
        match path.split_once('/') {
            Some((dir, rest)) => self
                .dirs
                .entry(dir.to_string())
                .or_default()
                .insert(rest, oid, mode),
            None => {
                self.files.insert(path.to_string(), (oid, mode));
            }
        }
    }

    fn write(&self, repo: &Repository) -> std::result::Result<Oid, git2::Error> {
        let mut builder = repo.treebuilder(None)?;
        for (name, dir) in &self.dirs {
            builder.insert(name, dir.write(repo)?, 0o040000)?;
        }
        for (name, (oid, mode)) in &self.files {
            builder.insert(name, *oid, *mode)?;
        }
        builder.write()
    }
}

/// A regular file of the build context, owned by root.
fn append_file(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
    mode: u32,
    time: u64,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(time);
    header.set_uid(0);
    header.set_gid(0);
    tar.append_data(&mut header, path, data)
        .map_err(|e| add_failed(path, e))
}

fn add_failed(path: &str, e: std::io::Error) -> Error {
    Error::fail(format!("Unable to add {path} to the build context: {e}"))
}

fn append_dir(tar: &mut tar::Builder<Vec<u8>>, path: &str, time: u64) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_mtime(time);
    header.set_size(0);
    tar.append_data(&mut header, format!("{path}/"), std::io::empty())
        .map_err(|e| add_failed(path, e))
}

/// Points `hooks/pre-receive` at the running binary (replacing Dokku's bash
/// hook, or a link to an older binary).
fn install_hook(dir: &Path) -> Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::fail(format!("Unable to find the berth binary: {e}")))?;
    let hooks = dir.join("hooks");
    crate::store::atomic::ensure_dir(&hooks)?;
    let hook = hooks.join("pre-receive");
    if std::fs::read_link(&hook).is_ok_and(|target| target == exe) {
        return Ok(());
    }
    crate::store::atomic::replace_symlink(&exe, &hook)
}

fn git_error(action: &str, path: &Path, e: git2::Error) -> Error {
    Error::fail(format!("{action} {}: {}", path.display(), e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn tar_export_keeps_modes_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path();
        git(work, &["init", "-q"]);
        std::fs::create_dir_all(work.join("sub/deeper")).unwrap();
        std::fs::write(work.join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::write(work.join("run.sh"), "#!/bin/sh\n").unwrap();
        let long = "n".repeat(120);
        std::fs::write(work.join("sub/deeper").join(&long), "long").unwrap();
        std::os::unix::fs::symlink("../Dockerfile", work.join("sub/link")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(work.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        git(work, &["add", "-A"]);
        git(work, &["commit", "-qm", "c"]);

        let repo = AppRepo {
            repo: Repository::open(work).unwrap(),
        };
        let commit = repo.commit_id("HEAD").unwrap();
        assert_eq!(
            repo.file(commit, "Dockerfile").unwrap().unwrap(),
            b"FROM x\n"
        );
        assert_eq!(repo.file(commit, "missing").unwrap(), None);
        assert_eq!(repo.file(commit, "sub").unwrap(), None);

        let bytes = repo.tree_tar(commit, "").unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let header = entry.header();
            let kind = header.entry_type();
            let mode = header.mode().unwrap();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            seen.push((path, kind, mode, link));
        }
        let find = |p: &str| {
            seen.iter()
                .find(|(path, ..)| path.trim_end_matches('/') == p)
                .unwrap_or_else(|| panic!("{p} in {seen:?}"))
        };
        assert_eq!(find("run.sh").2, 0o755);
        assert_eq!(find("Dockerfile").2, 0o644);
        assert!(find("sub").1.is_dir());
        let link = find("sub/link");
        assert!(link.1.is_symlink());
        assert_eq!(link.3.as_deref(), Some("../Dockerfile"));
        find(&format!("sub/deeper/{long}"));
        // The same commit always gives the same bytes.
        assert_eq!(repo.tree_tar(commit, "").unwrap(), bytes);

        // A folder as the root (builder build-dir); a missing one refused.
        let sub = repo.tree_tar(commit, "sub").unwrap();
        let mut names: Vec<String> = tar::Archive::new(&sub[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names[0].trim_end_matches('/'), "deeper");
        assert!(names.iter().any(|n| n == "link"));
        assert!(repo.tree_tar(commit, "nowhere").is_err());
        assert!(repo.tree_tar(commit, "Dockerfile").is_err());
    }
}
