//! Archives (tar, tar.gz, zip) read into a list of files for a commit.
//!
//! Nothing is extracted to disk: entries become git blobs directly, so an
//! archive cannot write outside the tree. Even so, paths that are absolute
//! or climb with `..`, and symlinks that point outside the tree, are
//! refused: a commit must be safe to check out too.

use std::io::Read;

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
}

pub fn read(bytes: &[u8], kind: Kind, limits: &Limits) -> Result<Vec<Entry>> {
    let mut entries = match kind {
        Kind::Tar => read_tar(bytes, limits)?,
        Kind::TarGz => {
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .take(limits.max_bytes + 1)
                .read_to_end(&mut raw)
                .map_err(|e| Error::fail(format!("Unable to decompress the archive: {e}")))?;
            check_size(raw.len() as u64, limits)?;
            read_tar(&raw, limits)?
        }
        Kind::Zip => read_zip(bytes, limits)?,
    };
    strip_single_top_dir(&mut entries);
    for entry in &entries {
        if let Content::Symlink { target } = &entry.content {
            check_link(&entry.path, target)?;
        }
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

/// A symlink must resolve inside the tree.
fn check_link(path: &str, target: &str) -> Result<()> {
    let escapes = || {
        Error::fail(format!(
            "Refusing symlink {path} -> {target}: it points outside the app"
        ))
    };
    if target.starts_with('/') {
        return Err(escapes());
    }
    let mut depth = path.matches('/').count() as i64;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(escapes());
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

fn read_tar(bytes: &[u8], limits: &Limits) -> Result<Vec<Entry>> {
    let bad = |e: std::io::Error| Error::fail(format!("Unable to read the tar archive: {e}"));
    let mut archive = tar::Archive::new(bytes);
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
                total += header.size().map_err(bad)?;
                check_size(total, limits)?;
                let mut data = Vec::new();
                item.read_to_end(&mut data).map_err(bad)?;
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
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(|e| {
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
        let entries = read(&bytes, Kind::Tar, &LIMITS).unwrap();
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
                read(&bytes, Kind::Tar, &LIMITS).is_err(),
                "{path} -> {link:?}"
            );
        }
        let inside = tar_of(&[("top", b"x", None), ("d/l", b"", Some("../top"))]);
        assert!(read(&inside, Kind::Tar, &LIMITS).is_ok());
    }

    #[test]
    fn enforces_limits() {
        let bytes = tar_of(&[("a", &[0u8; 2048], None)]);
        let tight = Limits {
            max_bytes: 1024,
            max_files: 100,
        };
        assert!(read(&bytes, Kind::Tar, &tight).is_err());
    }

    #[test]
    fn reads_gzip_and_zip() {
        let tar = tar_of(&[("Dockerfile", b"FROM x\n", None)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(Kind::sniff(&gz).unwrap(), Kind::TarGz);
        assert_eq!(
            read(&gz, Kind::TarGz, &LIMITS).unwrap()[0].path,
            "Dockerfile"
        );

        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file("Dockerfile", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"FROM x\n").unwrap();
        let zip = zip.finish().unwrap().into_inner();
        assert_eq!(Kind::sniff(&zip).unwrap(), Kind::Zip);
        assert_eq!(
            read(&zip, Kind::Zip, &LIMITS).unwrap()[0].path,
            "Dockerfile"
        );
    }
}
