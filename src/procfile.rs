//! Procfiles: `<type>: <command>` lines, as Dokku reads them.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Procfile {
    commands: BTreeMap<String, String>,
}

impl Procfile {
    /// Parses a Procfile; an invalid one fails with `Invalid Procfile: …`.
    pub fn parse(text: &str) -> Result<Procfile> {
        let mut commands = BTreeMap::new();
        for (number, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let invalid =
                |why: &str| Error::fail(format!("Invalid Procfile: line {}: {why}", number + 1));
            let (kind, command) = line
                .split_once(':')
                .ok_or_else(|| invalid("expected <process type>: <command>"))?;
            let kind = kind.trim();
            let command = command.trim();
            if !is_valid_type(kind) {
                return Err(invalid(&format!("invalid process type '{kind}'")));
            }
            if command.is_empty() {
                return Err(invalid(&format!("no command for '{kind}'")));
            }
            if commands
                .insert(kind.to_string(), command.to_string())
                .is_some()
            {
                return Err(invalid(&format!("duplicate process type '{kind}'")));
            }
        }
        Ok(Procfile { commands })
    }

    pub fn command(&self, kind: &str) -> Option<&str> {
        self.commands.get(kind).map(String::as_str)
    }

    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.commands.keys().map(String::as_str)
    }
}

/// `[a-z0-9-]`, at most 63 characters, alphanumeric at both ends.
pub fn is_valid_type(kind: &str) -> bool {
    let bytes = kind.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| edge(b) || *b == b'-')
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
}

/// Drops a `#` or `//` comment: a whole-line one, or a trailing one after
/// whitespace.
fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with("//") {
        return "";
    }
    let bytes = line.as_bytes();
    for i in 1..bytes.len() {
        let starts = bytes[i] == b'#' || line[i..].starts_with("//");
        if starts && bytes[i - 1].is_ascii_whitespace() {
            return &line[..i];
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_and_comments() {
        let p = Procfile::parse("# top\nweb: ./server --port $PORT # trailing\nworker: run // note\n\nrelease: migrate\n").unwrap();
        assert_eq!(p.command("web"), Some("./server --port $PORT"));
        assert_eq!(p.command("worker"), Some("run"));
        assert_eq!(
            p.types().collect::<Vec<_>>(),
            vec!["release", "web", "worker"]
        );
    }

    #[test]
    fn keeps_urls_and_hashes_inside_words() {
        let p = Procfile::parse("web: curl http://x/#frag").unwrap();
        assert_eq!(p.command("web"), Some("curl http://x/#frag"));
    }

    #[test]
    fn refuses_bad_procfiles() {
        for text in [
            "web ./x",
            "Web: x",
            "-web: x",
            "web:",
            "web: a\nweb: b",
            &format!("{}: x", "a".repeat(64)),
        ] {
            let err = Procfile::parse(text).unwrap_err().to_string();
            assert!(err.starts_with("Invalid Procfile: "), "{text:?}: {err}");
        }
    }
}
