//! Domains and the `VHOST` files that hold them: `$DOKKU_ROOT/VHOST` (the
//! global domains) and `$DOKKU_ROOT/<app>/VHOST` (an app's), one domain per
//! line.
//!
//! A [`Domain`] has passed Dokku's rule, so it never carries a space, `;`,
//! a brace, a quote, `$` or a line break: it is safe to write into an nginx
//! `server_name`.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::store::atomic::{FILE_MODE, remove_file, write_atomic};

/// A domain as Dokku accepts it, lowercased: it matches
/// `^[a-z0-9\.\*-]*[a-z0-9\*-]$`, or it is exactly `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Checks `raw` (case-insensitively) and lowercases it; fails with
    /// Dokku's `<d> is invalid. exiting...`.
    pub fn parse(raw: &str) -> Result<Domain> {
        // ASCII lowercasing only: Unicode lowercasing would turn the Kelvin
        // sign into a plain `k` and let a look-alike through.
        let domain = raw.to_ascii_lowercase();
        if is_valid(&domain) {
            Ok(Domain(domain))
        } else {
            Err(Error::fail(format!("{raw} is invalid. exiting...")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the domain names one host a browser can open: not a wildcard
    /// and not nginx's catch-all `_`.
    pub fn is_concrete(&self) -> bool {
        self.0 != "_" && !self.0.contains('*')
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_valid(domain: &str) -> bool {
    if domain == "_" {
        return true;
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".*-".contains(c);
    !domain.is_empty() && domain.chars().all(allowed) && !domain.ends_with('.')
}

/// Parses every word before anything is written, so one bad domain changes
/// nothing.
pub fn parse_all(raw: &[String]) -> Result<Vec<Domain>> {
    raw.iter().map(|d| Domain::parse(d)).collect()
}

/// Whether a global `VHOST` line is an IP address (such lines give apps no
/// default domain).
pub fn is_ip(line: &str) -> bool {
    let bare = line.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok()
}

/// The non-empty lines of a `VHOST` file, trimmed; none when it is missing.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).at("Unable to read", path),
    }
}

/// Replaces a `VHOST` file with `domains`, one per line; no domains removes
/// the file.
pub fn write(path: &Path, domains: &[Domain]) -> Result<()> {
    if domains.is_empty() {
        return remove_file(path).map(drop);
    }
    let text: String = domains.iter().map(|d| format!("{d}\n")).collect();
    write_atomic(path, text.as_bytes(), FILE_MODE)
}

/// `domains` without repeats, first occurrence kept.
pub fn unique(domains: Vec<Domain>) -> Vec<Domain> {
    let mut seen = Vec::with_capacity(domains.len());
    for domain in domains {
        if !seen.contains(&domain) {
            seen.push(domain);
        }
    }
    seen
}

/// Appends the domains `current` lacks; says, per domain, whether it was new.
pub fn push_new(current: &mut Vec<Domain>, domains: &[Domain]) -> Vec<bool> {
    domains
        .iter()
        .map(|domain| {
            let is_new = !current.contains(domain);
            if is_new {
                current.push(domain.clone());
            }
            is_new
        })
        .collect()
}

/// Words to remove, lowercased. Removal only deletes lines, so any word is
/// safe to look for; none needs to pass the rule.
pub fn lowercased(words: &[String]) -> Vec<String> {
    words.iter().map(|w| w.to_ascii_lowercase()).collect()
}

pub fn remove_all(current: &mut Vec<Domain>, targets: &[String]) {
    current.retain(|d| !targets.iter().any(|t| t == d.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dokku_domains() {
        for ok in [
            "example.com",
            "A.Example.COM",
            "*.example.com",
            "x",
            "_",
            "a-b.c0",
            "1.2.3.4",
            "xn--bcher-kva.example",
        ] {
            assert!(Domain::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Domain::parse("A.Example.COM").unwrap().as_str(),
            "a.example.com"
        );
    }

    #[test]
    fn refuses_anything_that_could_reach_an_nginx_config_unescaped() {
        for bad in [
            "a.com;return 200",
            "a.com\nx",
            "a.com\n",
            "a b",
            "x{",
            "x}",
            "$host",
            "\"a.com\"",
            "'a.com'",
            "a.com#",
            "a/b",
            "a\\b",
            "a.com.",
            "",
            "__",
            "a_b",
            "a.com\r",
            "a\tb",
            "bücher.example",
            "\u{212A}.com",
        ] {
            let err = Domain::parse(bad).unwrap_err();
            assert_eq!(err.to_string(), format!("{bad} is invalid. exiting..."));
        }
    }

    #[test]
    fn ip_lines() {
        assert!(is_ip("10.0.0.1"));
        assert!(is_ip("::1"));
        assert!(is_ip("[fe80::1]"));
        assert!(!is_ip("1.2.3.4.nip.io"));
        assert!(!is_ip("example.com"));
    }

    #[test]
    fn concrete_domains() {
        assert!(Domain::parse("a.com").unwrap().is_concrete());
        assert!(!Domain::parse("*.a.com").unwrap().is_concrete());
        assert!(!Domain::parse("_").unwrap().is_concrete());
    }

    #[test]
    fn files_round_trip_and_empty_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("VHOST");
        assert!(read_lines(&path).unwrap().is_empty());
        let domains = parse_all(&["b.com".into(), "a.com".into()]).unwrap();
        write(&path, &domains).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b.com\na.com\n");
        assert_eq!(read_lines(&path).unwrap(), vec!["b.com", "a.com"]);
        write(&path, &[]).unwrap();
        assert!(!path.exists());
    }
}
