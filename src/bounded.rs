//! Reads of user input, each with a limit: a client that sends more (an
//! endless `< /dev/zero`, say) gets a clear error and changes nothing,
//! and no process grows with what it is sent.

use std::io::{BufRead, Read};

use crate::error::{Error, Result};

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
    fn a_line_ends_at_its_newline() {
        let text = read_line(&b"one\ntwo\n"[..], 10, "x").unwrap();
        assert_eq!(text, "one\n");
        assert_eq!(human(CONFIG_IMPORT), "16 MiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
