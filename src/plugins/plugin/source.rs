//! Where a plugin comes from (a folder, a tarball, a tarball URL, a git
//! URL) and how it is brought into a staging folder: copied, unpacked
//! under the plugins folder's safety rules, downloaded, or cloned.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use crate::error::{Error, IoContext, Result};

/// Where a plugin comes from.
#[derive(Debug, PartialEq)]
pub(super) enum Source {
    Folder(PathBuf),
    Tarball(PathBuf),
    TarballUrl(String),
    Git(String),
}

fn is_tarball_name(s: &str) -> bool {
    [".tar.gz", ".tgz", ".tar"]
        .iter()
        .any(|ext| s.ends_with(ext))
}

impl Source {
    /// A local folder or file (a tarball) by path; an http(s) URL ending
    /// in a tarball extension; anything else (`https://…`, `git@…`,
    /// `file://…`) is a git URL.
    pub(super) fn classify(text: &str) -> Source {
        let path = Path::new(text);
        let is_url = text.contains("://");
        if !is_url && path.is_dir() {
            return Source::Folder(path.to_path_buf());
        }
        if !is_url && path.is_file() {
            return Source::Tarball(path.to_path_buf());
        }
        if (text.starts_with("https://") || text.starts_with("http://")) && is_tarball_name(text) {
            return Source::TarballUrl(text.to_string());
        }
        Source::Git(text.to_string())
    }

    /// The name a plugin gets without `--name`: the last path segment
    /// without `.git` or a tarball extension, and without Dokku's
    /// `dokku-` prefix (`dokku-maintenance.git` is `maintenance`).
    pub(super) fn default_name(text: &str) -> String {
        let last = text
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or(text);
        let mut name = last;
        for ext in [".git", ".tar.gz", ".tgz", ".tar"] {
            name = name.strip_suffix(ext).unwrap_or(name);
        }
        name.strip_prefix("dokku-").unwrap_or(name).to_string()
    }
}

/// Fetches `source` into `dest` (which must not exist).
pub(super) fn fetch(source: &Source, committish: Option<&str>, dest: &Path) -> Result<()> {
    match source {
        Source::Folder(dir) => {
            if committish.is_some() {
                return Err(Error::fail("--committish needs a git URL"));
            }
            copy_tree(dir, dest)
        }
        Source::Tarball(file) => unpack(&fs::read(file).at("Unable to read", file)?, dest),
        Source::TarballUrl(url) => unpack(
            &crate::fetch::download(url, &crate::fetch::PLUGIN_TARBALL)?,
            dest,
        ),
        Source::Git(url) => {
            run_tool(
                Process::new("git")
                    .args(["clone", "--quiet", "--"])
                    .arg(url)
                    .arg(dest)
                    .env("GIT_TERMINAL_PROMPT", "0"),
                "clone the plugin",
            )?;
            if let Some(reference) = committish {
                checkout(dest, reference)?;
            }
            Ok(())
        }
    }
}

pub(super) fn checkout(dir: &Path, reference: &str) -> Result<()> {
    if reference.starts_with('-') {
        return Err(Error::fail(format!("Invalid committish {reference}")));
    }
    run_tool(
        Process::new("git")
            .arg("-C")
            .arg(dir)
            .args(["checkout", "--quiet", reference, "--"]),
        "check out the committish",
    )
}

/// Runs a helper tool (argv only); its stderr is the user's.
pub(super) fn run_tool(command: &mut Process, what: &str) -> Result<()> {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| Error::fail(format!("Unable to {what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::fail(format!("Unable to {what}")))
    }
}

/// Unpacks a tar or gzipped tar: files, folders and symlinks only (a
/// device node or a fifo is refused), with their rwx modes but never a
/// setuid, setgid or sticky bit (the plugins folder is root's); the tar
/// crate refuses entries that would land outside `dest`, through `..` or
/// through a symlink unpacked before.
fn unpack(bytes: &[u8], dest: &Path) -> Result<()> {
    crate::store::atomic::ensure_dir(dest)?;
    let reader: Box<dyn std::io::Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let bad = |e: std::io::Error| Error::fail(format!("Unable to unpack the tarball: {e}"));
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(false);
    archive.set_unpack_xattrs(false);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo
        ) {
            let path = entry.path().map_err(bad)?.display().to_string();
            return Err(Error::fail(format!(
                "Refusing the tarball: {path} is a device node or a fifo"
            )));
        }
        entry.unpack_in(dest).map_err(bad)?;
    }
    Ok(())
}

/// The folder holding `plugin.toml`: the fetched folder itself, or its one
/// sub-folder (tarballs usually wrap their contents in one).
pub(super) fn plugin_root(dir: &Path) -> Result<PathBuf> {
    if dir.join("plugin.toml").is_file() {
        return Ok(dir.to_path_buf());
    }
    let entries: Vec<PathBuf> = fs::read_dir(dir)
        .at("Unable to list", dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    match entries.as_slice() {
        [only] if only.join("plugin.toml").is_file() => Ok(only.clone()),
        _ => Err(Error::fail("Not a plugin: no plugin.toml at its top level")),
    }
}

/// Copies a folder: files with their modes, sub-folders, symlinks as
/// symlinks.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    crate::store::atomic::ensure_dir(to)?;
    for entry in fs::read_dir(from).at("Unable to list", from)? {
        let entry = entry.at("Unable to list", from)?;
        let source = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().at("Unable to read", &source)?;
        if kind.is_symlink() {
            let target = fs::read_link(&source).at("Unable to read", &source)?;
            std::os::unix::fs::symlink(target, &dest).at("Unable to create", &dest)?;
        } else if kind.is_dir() {
            copy_tree(&source, &dest)?;
        } else {
            fs::copy(&source, &dest).at("Unable to copy", &source)?;
            // rwx only: no setuid, setgid or sticky bit in root's folder.
            let mode = fs::metadata(&source)
                .at("Unable to read", &source)?
                .permissions()
                .mode()
                & 0o777;
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                .at("Unable to copy", &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_follow_plugn() {
        for (source, name) in [
            (
                "https://github.com/dokku/dokku-maintenance.git",
                "maintenance",
            ),
            ("git@github.com:dokku/dokku-http-auth.git", "http-auth"),
            ("/tmp/plugins/hello/", "hello"),
            ("https://example.com/x/hello-1.tar.gz", "hello-1"),
            ("hello.tgz", "hello"),
        ] {
            assert_eq!(Source::default_name(source), name, "{source}");
        }
    }

    #[test]
    fn urls_that_are_not_local_are_git_unless_tarballs() {
        assert_eq!(
            Source::classify("https://example.com/p.tar.gz"),
            Source::TarballUrl("https://example.com/p.tar.gz".into())
        );
        assert_eq!(
            Source::classify("https://example.com/p.git"),
            Source::Git("https://example.com/p.git".into())
        );
    }

    fn tarball(entries: &[(&str, tar::EntryType, u32)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, mode) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(*mode);
            header.set_size(if *kind == tar::EntryType::Regular {
                2
            } else {
                0
            });
            header.set_path(path).unwrap();
            header.set_cksum();
            let data: &[u8] = if *kind == tar::EntryType::Regular {
                b"x\n"
            } else {
                b""
            };
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn unpacking_keeps_rwx_but_never_setuid() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("p");
        let bytes = tarball(&[
            ("p/plugin.toml", tar::EntryType::Regular, 0o644),
            ("p/install", tar::EntryType::Regular, 0o4755),
        ]);
        unpack(&bytes, &dest).unwrap();
        let mode = fs::metadata(dest.join("p/install"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
        assert_eq!(plugin_root(&dest).unwrap(), dest.join("p"));
    }

    #[test]
    fn device_nodes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = tarball(&[("p/null", tar::EntryType::Char, 0o644)]);
        let message = unpack(&bytes, &dir.path().join("p"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("device node or a fifo"), "{message}");
    }
}
