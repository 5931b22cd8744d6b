//! Reads of user input, each with a limit: a client that sends more (an
//! endless `< /dev/zero`, say) gets a clear error and changes nothing,
//! and no process grows with what it is sent.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// An SSH public key line (the longest real ones, RSA 16384, are ~2.8 KB).
pub const KEY_LINE: u64 = 64 * 1024;
/// An ENV file or JSON object of config vars.
pub const CONFIG_IMPORT: u64 = 16 * 1024 * 1024;

/// Everything `reader` holds, refused past `limit` bytes: `what` names the
/// input in the message.
pub fn read_all(reader: impl Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::fail(format!("Unable to read {what}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(what, limit));
    }
    Ok(bytes)
}

/// [`read_all`] as UTF-8 text.
pub fn read_text(reader: impl Read, limit: u64, what: &str) -> Result<String> {
    String::from_utf8(read_all(reader, limit, what)?)
        .map_err(|_| Error::fail(format!("{what} is not UTF-8 text")))
}

/// The first line `reader` holds (with its newline), refused when no line
/// ends within `limit` bytes.
pub fn read_line(reader: impl BufRead, limit: u64, what: &str) -> Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_until(b'\n', &mut bytes)
        .map_err(|e| Error::fail(format!("Unable to read {what}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(what, limit));
    }
    String::from_utf8(bytes).map_err(|_| Error::fail(format!("{what} is not UTF-8 text")))
}

/// The last `lines` lines of the file at `path`, read from at most its
/// last `max_bytes` (a missing file is empty), and the offset of its end,
/// to [`follow`] from.
pub fn tail(path: &Path, lines: usize, max_bytes: u64) -> Result<(Vec<u8>, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).at("Unable to open", path),
    };
    let length = file.metadata().at("Unable to read", path)?.len();
    let start = length.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))
        .at("Unable to read", path)?;
    let mut bytes = Vec::new();
    file.take(max_bytes)
        .read_to_end(&mut bytes)
        .at("Unable to read", path)?;
    let end = start + bytes.len() as u64;
    // Whole lines only: drop a first line cut by the start.
    let mut from = if start > 0 {
        bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| i + 1)
    } else {
        0
    };
    let newlines: Vec<usize> = bytes[from..]
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| from + i)
        .collect();
    // A last line without its newline counts as a line too.
    let complete = bytes.last() == Some(&b'\n');
    let count = newlines.len() + usize::from(!complete && bytes.len() > from);
    if count > lines {
        let skip = count - lines;
        from = newlines[skip - 1] + 1;
    }
    Ok((bytes[from..].to_vec(), end))
}

/// Follows the file at `path` from `offset` for ever, handing what is
/// appended to `on_bytes` in pieces of at most 64 KiB; a file that shrank
/// (rotated) is read again from its start.
pub fn follow(
    path: &Path,
    mut offset: u64,
    on_bytes: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let length = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if length < offset {
            offset = 0;
        }
        if length > offset {
            let mut file = std::fs::File::open(path).at("Unable to open", path)?;
            file.seek(SeekFrom::Start(offset))
                .at("Unable to read", path)?;
            let n = file.read(&mut buffer).at("Unable to read", path)?;
            offset += n as u64;
            on_bytes(&buffer[..n])?;
            continue;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

fn too_large(what: &str, limit: u64) -> Error {
    Error::fail(format!("{what} is larger than {}", human(limit)))
}

/// `65536` → `64 KiB`, `4194304` → `4 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024 && value.is_multiple_of(1024) && unit < UNITS.len() - 1 {
        value /= 1024;
        unit += 1;
    }
    format!("{value} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_past_the_limit_is_refused() {
        assert_eq!(read_all(&b"abc"[..], 3, "x").unwrap(), b"abc");
        let error = read_all(&b"abcd"[..], 3, "The key").unwrap_err();
        assert_eq!(error.to_string(), "The key is larger than 3 bytes");
        // An endless stream stops at the limit.
        let error = read_line(
            std::io::BufReader::new(std::io::repeat(0)),
            KEY_LINE,
            "The key",
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "The key is larger than 64 KiB");
    }

    #[test]
    fn tail_reads_the_last_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let (last, end) = tail(&path, 2, 1024).unwrap();
        assert_eq!(last, b"line 999\nline 1000\n");
        assert_eq!(end, text.len() as u64);
        // A cut first line is dropped; fewer lines than asked is fine.
        let (last, _) = tail(&path, 500, 30).unwrap();
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "line 998\nline 999\nline 1000\n"
        );
        std::fs::write(&path, "a\nb").unwrap();
        assert_eq!(tail(&path, 1, 1024).unwrap().0, b"b");
        assert_eq!(tail(&dir.path().join("missing"), 5, 10).unwrap().0, b"");
    }

    #[test]
    fn a_line_ends_at_its_newline() {
        let text = read_line(&b"one\ntwo\n"[..], 10, "x").unwrap();
        assert_eq!(text, "one\n");
        assert_eq!(human(CONFIG_IMPORT), "16 MiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
