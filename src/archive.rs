//! Archives (tar, tar.gz, zip) read into a list of files for a commit.
//!
//! Nothing is extracted to disk: entries become git blobs directly, so an
//! archive cannot write outside the tree. Even so, paths that are absolute
//! or climb with `..`, and symlinks that point outside the tree, are
//! refused: a commit must be safe to check out too.
//!
//! Tar and tar.gz are read as a stream, never held whole: the limits on
//! total size (`archive-max-size`), entry count (`archive-max-files`) and
//! compression ratio (`archive-max-ratio`, berth's) are checked as bytes
//! arrive, so a gzip bomb (200 KB that expands to 200 MB) is refused after
//! reading a bounded amount.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    File { data: Vec<u8>, executable: bool },
    Symlink { target: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Normalised, relative, `/`-separated.
    pub path: String,
    pub content: Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tar,
    TarGz,
    Zip,
}

impl Kind {
    pub fn parse(name: &str) -> Result<Kind> {
        match name {
            "tar" => Ok(Kind::Tar),
            "tar.gz" | "tgz" => Ok(Kind::TarGz),
            "zip" => Ok(Kind::Zip),
            other => Err(Error::fail(format!(
                "Invalid archive type specified: {other} (valid: tar, tar.gz, zip)"
            ))),
        }
    }

    /// Recognises an archive by its first bytes.
    pub fn sniff(bytes: &[u8]) -> Result<Kind> {
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Ok(Kind::Zip)
        } else if bytes.starts_with(&[0x1f, 0x8b]) {
            Ok(Kind::TarGz)
        } else if bytes.get(257..262) == Some(b"ustar") {
            Ok(Kind::Tar)
        } else {
            Err(Error::fail(
                "Unable to recognise the archive: expected tar, tar.gz or zip",
            ))
        }
    }
}

pub struct Limits {
    pub max_bytes: u64,
    pub max_files: usize,
    /// Uncompressed bytes per compressed byte, checked once more than
    /// [`RATIO_FLOOR`] bytes came out (small archives may compress well).
    pub max_ratio: u64,
}

/// Below this many uncompressed bytes the ratio is not checked.
pub const RATIO_FLOOR: u64 = 16 * 1024 * 1024;

/// Reads the archive `input` of `kind` (a zip is buffered, up to
/// `max_bytes`: its index is at its end).
pub fn read(input: impl Read, kind: Kind, limits: &Limits) -> Result<Vec<Entry>> {
    let compressed = Rc::new(Cell::new(0u64));
    let counted = Counted {
        inner: input,
        count: compressed.clone(),
        max: limits.max_bytes,
    };
    let mut entries = match kind {
        Kind::Tar => read_tar(counted, limits)?,
        Kind::TarGz => {
            let expanded = Guarded {
                inner: flate2::read::GzDecoder::new(counted),
                out: 0,
                compressed,
                limits,
            };
            read_tar(expanded, limits)?
        }
        Kind::Zip => {
            let bytes = crate::bounded::read_all(counted, limits.max_bytes, "The archive")?;
            read_zip(&bytes, limits)?
        }
    };
    strip_single_top_dir(&mut entries);
    let links: std::collections::HashMap<&str, &str> = entries
        .iter()
        .filter_map(|e| match &e.content {
            Content::Symlink { target } => Some((e.path.as_str(), target.as_str())),
            Content::File { .. } => None,
        })
        .collect();
    for (path, target) in &links {
        check_link(path, target, &links)?;
    }
    if entries.is_empty() {
        return Err(Error::fail("The archive holds no files"));
    }
    Ok(entries)
}

fn check_size(total: u64, limits: &Limits) -> Result<()> {
    if total > limits.max_bytes {
        Err(Error::fail(format!(
            "The archive is larger than archive-max-size ({} bytes)",
            limits.max_bytes
        )))
    } else {
        Ok(())
    }
}

fn check_count(count: usize, limits: &Limits) -> Result<()> {
    if count > limits.max_files {
        Err(Error::fail(format!(
            "The archive holds more than archive-max-files ({}) files",
            limits.max_files
        )))
    } else {
        Ok(())
    }
}

/// `a/./b/` → `a/b`; refuses absolute paths, `..`, and `.git`.
pub fn normalise(path: &str) -> Result<Option<String>> {
    if path.starts_with('/') {
        return Err(Error::fail(format!(
            "Refusing archive entry with an absolute path: {path}"
        )));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::fail(format!(
                    "Refusing archive entry that climbs out with '..': {path}"
                )));
            }
            ".git" => {
                return Err(Error::fail(format!(
                    "Refusing archive entry inside .git: {path}"
                )));
            }
            part => parts.push(part),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// A symlink must resolve inside the tree, the way a checkout resolves
/// it: each component in turn, following the archive's other symlinks on
/// the way (`a/b -> ..` and then `c/d -> ../a/b/..` leaves the tree,
/// though each looks harmless alone). A chain longer than 40 links (a
/// loop) is refused as the kernel would.
fn check_link(
    path: &str,
    target: &str,
    links: &std::collections::HashMap<&str, &str>,
) -> Result<()> {
    let escapes = || {
        Error::fail(format!(
            "Refusing symlink {path} -> {target}: it points outside the app"
        ))
    };
    let mut resolved: Vec<String> = path.split('/').map(str::to_string).collect();
    resolved.pop();
    let mut pending: std::collections::VecDeque<String> =
        target.split('/').map(str::to_string).collect();
    if target.starts_with('/') {
        return Err(escapes());
    }
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                if resolved.pop().is_none() {
                    return Err(escapes());
                }
            }
            _ => {
                resolved.push(part);
                if let Some(next) = links.get(resolved.join("/").as_str()) {
                    hops += 1;
                    if hops > 40 {
                        return Err(Error::fail(format!(
                            "Refusing symlink {path} -> {target}: too many levels of symbolic links"
                        )));
                    }
                    if next.starts_with('/') {
                        return Err(escapes());
                    }
                    resolved.pop();
                    for component in next.split('/').rev() {
                        pending.push_front(component.to_string());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Counts the bytes read through it, refusing past `max`.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
    max: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        if self.count.get() > self.max {
            return Err(std::io::Error::other(format!(
                "it is larger than archive-max-size ({} bytes)",
                self.max
            )));
        }
        Ok(n)
    }
}

/// A decompressor's output, refused as soon as it passes the size limit
/// or the ratio to the compressed bytes read so far.
struct Guarded<'a, R> {
    inner: R,
    out: u64,
    compressed: Rc<Cell<u64>>,
    limits: &'a Limits,
}

impl<R: Read> Read for Guarded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let refused = if self.out > self.limits.max_bytes {
            Some(format!(
                "it expands past archive-max-size ({} bytes)",
                self.limits.max_bytes
            ))
        } else if self.out > RATIO_FLOOR
            && self.out
                > self
                    .limits
                    .max_ratio
                    .saturating_mul(self.compressed.get().max(1))
        {
            Some(format!(
                "it expands more than archive-max-ratio ({}) times its size, as a decompression bomb does",
                self.limits.max_ratio
            ))
        } else {
            None
        };
        match refused {
            Some(why) => Err(std::io::Error::other(why)),
            None => Ok(n),
        }
    }
}

fn read_tar(input: impl Read, limits: &Limits) -> Result<Vec<Entry>> {
    let bad = |e: std::io::Error| Error::fail(format!("Refusing the tar archive: {e}"));
    let mut archive = tar::Archive::new(input);
    let mut entries = Vec::new();
    let mut total = 0u64;
    for item in archive.entries().map_err(bad)? {
        let mut item = item.map_err(bad)?;
        let raw_path = item.path().map_err(bad)?.to_string_lossy().into_owned();
        let Some(path) = normalise(&raw_path)? else {
            continue;
        };
        let header = item.header();
        let content = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let executable = header.mode().map_err(bad)? & 0o111 != 0;
                let size = header.size().map_err(bad)?;
                total += size;
                check_size(total, limits)?;
                let mut data = Vec::new();
                (&mut item).take(size).read_to_end(&mut data).map_err(bad)?;
                Content::File { data, executable }
            }
            tar::EntryType::Symlink => {
                let target = item
                    .link_name()
                    .map_err(bad)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Content::Symlink { target }
            }
            tar::EntryType::Directory => continue,
            // Global and per-file metadata records carry no files.
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => continue,
            other => {
                return Err(Error::fail(format!(
                    "Refusing archive entry {raw_path}: unsupported type {other:?} (only files, folders and symlinks)"
                )));
            }
        };
        entries.push(Entry { path, content });
        check_count(entries.len(), limits)?;
    }
    Ok(entries)
}

fn read_zip(bytes: &[u8], limits: &Limits) -> Result<Vec<Entry>> {
    let bad =
        |e: zip::result::ZipError| Error::fail(format!("Unable to read the zip archive: {e}"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    check_count(archive.len(), limits)?;
    let mut entries = Vec::new();
    let mut total = 0u64;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(bad)?;
        let raw_path = file.name().map_err(bad)?.into_owned();
        let Some(path) = normalise(&raw_path)? else {
            continue;
        };
        if file.is_dir() {
            continue;
        }
        total += file.size();
        check_size(total, limits)?;
        if file.size() > RATIO_FLOOR
            && file.size()
                > limits
                    .max_ratio
                    .saturating_mul(file.compressed_size().max(1))
        {
            return Err(Error::fail(format!(
                "Refusing {raw_path}: it expands more than archive-max-ratio ({}) times its size, as a decompression bomb does",
                limits.max_ratio
            )));
        }
        let mut data = Vec::new();
        let size = file.size();
        (&mut file).take(size).read_to_end(&mut data).map_err(|e| {
            Error::fail(format!(
                "Unable to read {raw_path} from the zip archive: {e}"
            ))
        })?;
        let content = if file.is_symlink() {
            Content::Symlink {
                target: String::from_utf8_lossy(&data).into_owned(),
            }
        } else {
            let executable = file.unix_mode().is_some_and(|m| m & 0o111 != 0);
            Content::File { data, executable }
        };
        entries.push(Entry { path, content });
    }
    Ok(entries)
}

/// Archives made by `git archive --prefix` or by code hosts wrap everything
/// in one folder; the app is what is inside it.
fn strip_single_top_dir(entries: &mut [Entry]) {
    let Some(top) = entries
        .first()
        .and_then(|e| e.path.split_once('/'))
        .map(|(t, _)| t.to_string())
    else {
        return;
    };
    let prefix = format!("{top}/");
    if entries.iter().all(|e| e.path.starts_with(&prefix)) {
        for entry in entries.iter_mut() {
            entry.path = entry.path[prefix.len()..].to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_bytes: 1 << 20,
        max_files: 100,
        max_ratio: 200,
    };

    fn tar_of(files: &[(&str, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data, link) in files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            match link {
                Some(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    // Bypass the tar crate's own path checks to build hostile archives.
                    header.set_link_name_literal(target).unwrap();
                    header.as_gnu_mut().unwrap().name[..path.len()]
                        .copy_from_slice(path.as_bytes());
                    header.set_cksum();
                    builder.append(&header, &[][..]).unwrap();
                }
                None => {
                    header.set_size(data.len() as u64);
                    header.as_gnu_mut().unwrap().name[..path.len()]
                        .copy_from_slice(path.as_bytes());
                    header.set_cksum();
                    builder.append(&header, *data).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn reads_files_and_strips_a_single_top_folder() {
        let bytes = tar_of(&[
            ("app-main/Dockerfile", b"FROM x\n", None),
            ("app-main/src/a", b"a", None),
        ]);
        assert_eq!(Kind::sniff(&bytes).unwrap(), Kind::Tar);
        let entries = read(&bytes[..], Kind::Tar, &LIMITS).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["Dockerfile", "src/a"]);
    }

    #[test]
    fn refuses_escapes() {
        for (path, link) in [
            ("../evil", None),
            ("/etc/passwd", None),
            ("a/../../x", None),
            (".git/hooks/x", None),
            ("l", Some("/etc")),
            ("d/l", Some("../../x")),
        ] {
            let bytes = tar_of(&[("ok", b"x", None), (path, b"x", link)]);
            assert!(
                read(&bytes[..], Kind::Tar, &LIMITS).is_err(),
                "{path} -> {link:?}"
            );
        }
        let inside = tar_of(&[("top", b"x", None), ("d/l", b"", Some("../top"))]);
        assert!(read(&inside[..], Kind::Tar, &LIMITS).is_ok());
    }

    #[test]
    fn symlinks_are_resolved_through_each_other() {
        // Each alone stays inside; together the second climbs out.
        let chained = tar_of(&[
            ("ok", b"x", None),
            ("a/b", b"", Some("..")),
            ("c/d", b"", Some("../a/b/..")),
        ]);
        let error = read(&chained[..], Kind::Tar, &LIMITS).unwrap_err();
        assert!(error.to_string().contains("c/d -> ../a/b/.."), "{error}");
        let looped = tar_of(&[
            ("ok", b"x", None),
            ("x", b"", Some("y")),
            ("y", b"", Some("x")),
        ]);
        let error = read(&looped[..], Kind::Tar, &LIMITS).unwrap_err();
        assert!(error.to_string().contains("too many levels"), "{error}");
        let fine = tar_of(&[
            ("dir/file", b"x", None),
            ("alias", b"", Some("dir")),
            ("deep/link", b"", Some("../alias/file")),
        ]);
        assert!(read(&fine[..], Kind::Tar, &LIMITS).is_ok());
    }

    #[test]
    fn enforces_limits() {
        let bytes = tar_of(&[("a", &[0u8; 2048], None)]);
        let tight = Limits {
            max_bytes: 1024,
            max_files: 100,
            max_ratio: 200,
        };
        assert!(read(&bytes[..], Kind::Tar, &tight).is_err());
    }

    #[test]
    fn a_gzip_bomb_is_refused_after_a_bounded_read() {
        // 64 MiB of zeros in one entry compress to ~64 KiB.
        let size = 64 << 20;
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(size);
        header.set_path("zeros").unwrap();
        header.set_cksum();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        {
            let mut builder = tar::Builder::new(&mut gz);
            builder
                .append(&header, std::io::repeat(0).take(size))
                .unwrap();
            builder.finish().unwrap();
        }
        let bomb = gz.finish().unwrap();
        let roomy = Limits {
            max_bytes: 1 << 30,
            max_files: 100,
            max_ratio: 200,
        };
        let error = read(&bomb[..], Kind::TarGz, &roomy).unwrap_err();
        assert!(
            error.to_string().contains("archive-max-ratio (200)"),
            "{error}"
        );
    }

    #[test]
    fn reads_gzip_and_zip() {
        let tar = tar_of(&[("Dockerfile", b"FROM x\n", None)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(Kind::sniff(&gz).unwrap(), Kind::TarGz);
        assert_eq!(
            read(&gz[..], Kind::TarGz, &LIMITS).unwrap()[0].path,
            "Dockerfile"
        );

        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file("Dockerfile", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"FROM x\n").unwrap();
        let zip = zip.finish().unwrap().into_inner();
        assert_eq!(Kind::sniff(&zip).unwrap(), Kind::Zip);
        assert_eq!(
            read(&zip[..], Kind::Zip, &LIMITS).unwrap()[0].path,
            "Dockerfile"
        );
    }
}
