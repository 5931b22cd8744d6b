//! `scheme:host-port:container-port` port maps, parsed and checked as
//! Dokku's ports plugin does (its Go error texts included), with the scheme
//! limited to the ones a proxy can route.

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};

pub const SCHEMES: &[&str] = &["grpc", "grpcs", "http", "https", "tcp", "udp"];

/// One map. Field order is Dokku's JSON order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMap {
    pub container_port: u16,
    pub host_port: u16,
    pub scheme: String,
}

impl fmt::Display for PortMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.scheme, self.host_port, self.container_port
        )
    }
}

/// A word of `ports:remove`: a whole map, or a bare host port (every map on
/// that port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortArg {
    Map(PortMap),
    HostPort(u16),
}

/// The words of `args`, each split on blanks (Dokku joins its arguments with
/// spaces before splitting), parsed.
pub fn parse_args(args: &[String]) -> Result<Vec<PortArg>> {
    args.iter()
        .flat_map(|a| a.split_whitespace())
        .map(parse_word)
        .collect()
}

/// Like [`parse_args`], refusing bare host ports.
pub fn parse_maps(args: &[String]) -> Result<Vec<PortMap>> {
    parse_args(args)?
        .into_iter()
        .map(|arg| match arg {
            PortArg::Map(map) => Ok(map),
            PortArg::HostPort(port) => Err(Error::fail(format!(
                "Invalid port map {port} [err=expected scheme:host-port:container-port]"
            ))),
        })
        .collect()
}

pub fn parse_word(word: &str) -> Result<PortArg> {
    let invalid = |detail: String| Error::fail(format!("Invalid port map {word} [{detail}]"));
    let parts: Vec<&str> = word.splitn(3, ':').collect();
    if parts.len() == 1 {
        let port = atoi(word).map_err(invalid)?;
        return Ok(PortArg::HostPort(
            valid_port(port).ok_or_else(|| invalid(format!("hostPort={port}")))?,
        ));
    }
    if parts.len() != 3 {
        return Err(invalid(format!("len={}", parts.len())));
    }
    let host = atoi(parts[1]).map_err(invalid)?;
    let container = atoi(parts[2]).map_err(invalid)?;
    let host = valid_port(host).ok_or_else(|| invalid(format!("hostPort={host}")))?;
    let container =
        valid_port(container).ok_or_else(|| invalid(format!("containerPort={container}")))?;
    let scheme = parts[0];
    if !SCHEMES.contains(&scheme) {
        return Err(invalid(format!(
            "err=unknown scheme {scheme:?}, valid schemes: {}",
            SCHEMES.join(", ")
        )));
    }
    Ok(PortArg::Map(PortMap {
        container_port: container,
        host_port: host,
        scheme: scheme.to_string(),
    }))
}

/// Go's `strconv.Atoi`, with its error text.
fn atoi(text: &str) -> std::result::Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "err=strconv.Atoi: parsing {text:?}: invalid syntax"
        ));
    }
    text.parse()
        .map_err(|_| format!("err=strconv.Atoi: parsing {text:?}: value out of range"))
}

fn valid_port(port: i64) -> Option<u16> {
    u16::try_from(port).ok().filter(|p| *p > 0)
}

/// Unique by their text, sorted by it (Dokku stores them that way), and no
/// `scheme:host-port` used twice.
pub fn normalize(maps: Vec<PortMap>) -> Result<Vec<PortMap>> {
    let mut maps = maps;
    maps.sort_by_key(PortMap::to_string);
    maps.dedup();
    for (i, map) in maps.iter().enumerate() {
        let reused = maps[..i]
            .iter()
            .any(|m| m.scheme == map.scheme && m.host_port == map.host_port);
        if reused {
            return Err(Error::fail(format!(
                "Error validating port mappings: The same scheme:host-port is being reused: {}:{}",
                map.scheme, map.host_port
            )));
        }
    }
    Ok(maps)
}

/// A stored list (`item\n` per item); lines that do not parse are skipped.
pub fn from_stored(text: &str) -> Vec<PortMap> {
    text.split_whitespace()
        .filter_map(|w| match parse_word(w) {
            Ok(PortArg::Map(map)) => Some(map),
            _ => None,
        })
        .collect()
}

/// The stored form: `item\n` per item; empty for none.
pub fn to_stored(maps: &[PortMap]) -> String {
    maps.iter().map(|m| format!("{m}\n")).collect()
}

pub fn joined(maps: &[PortMap]) -> String {
    maps.iter()
        .map(PortMap::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn to_json(maps: &[PortMap]) -> String {
    serde_json::to_string(maps).expect("port maps serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(word: &str) -> PortMap {
        match parse_word(word).unwrap() {
            PortArg::Map(map) => map,
            other => panic!("{other:?}"),
        }
    }

    fn error(word: &str) -> String {
        parse_word(word).unwrap_err().to_string()
    }

    #[test]
    fn parses_maps_and_host_ports() {
        assert_eq!(map("http:80:5000").to_string(), "http:80:5000");
        assert_eq!(map("udp:53:1053").container_port, 1053);
        assert_eq!(parse_word("8080").unwrap(), PortArg::HostPort(8080));
        assert_eq!(map("tcp:65535:1").host_port, 65535);
    }

    #[test]
    fn errors_in_dokku_words() {
        assert_eq!(
            error("http:x:5000"),
            r#"Invalid port map http:x:5000 [err=strconv.Atoi: parsing "x": invalid syntax]"#
        );
        assert_eq!(
            error("http:0:5000"),
            "Invalid port map http:0:5000 [hostPort=0]"
        );
        assert_eq!(
            error("http:80:65536"),
            "Invalid port map http:80:65536 [containerPort=65536]"
        );
        assert_eq!(
            error("http:-1:5"),
            "Invalid port map http:-1:5 [hostPort=-1]"
        );
        assert_eq!(error("http:80"), "Invalid port map http:80 [len=2]");
        assert_eq!(
            error("http:80:5000:1"),
            r#"Invalid port map http:80:5000:1 [err=strconv.Atoi: parsing "5000:1": invalid syntax]"#
        );
        assert_eq!(
            error("http:99999999999999999999:1"),
            r#"Invalid port map http:99999999999999999999:1 [err=strconv.Atoi: parsing "99999999999999999999": value out of range]"#
        );
        assert_eq!(
            error("ftp:21:21"),
            r#"Invalid port map ftp:21:21 [err=unknown scheme "ftp", valid schemes: grpc, grpcs, http, https, tcp, udp]"#
        );
        assert_eq!(
            error("abc"),
            r#"Invalid port map abc [err=strconv.Atoi: parsing "abc": invalid syntax]"#
        );
    }

    #[test]
    fn normalize_sorts_dedups_and_refuses_reuse() {
        let maps = vec![
            map("http:8080:3000"),
            map("http:80:5000"),
            map("http:80:5000"),
        ];
        let sorted: Vec<String> = normalize(maps)
            .unwrap()
            .iter()
            .map(PortMap::to_string)
            .collect();
        assert_eq!(sorted, vec!["http:8080:3000", "http:80:5000"]);
        let err = normalize(vec![map("http:80:5000"), map("http:80:3000")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error validating port mappings: The same scheme:host-port is being reused: http:80"
        );
        assert!(normalize(vec![map("http:80:5000"), map("udp:80:5000")]).is_ok());
    }

    #[test]
    fn json_in_dokku_field_order() {
        assert_eq!(
            to_json(&[map("http:80:5000")]),
            r#"[{"container_port":5000,"host_port":80,"scheme":"http"}]"#
        );
        assert_eq!(to_json(&[]), "[]");
    }

    #[test]
    fn stored_lists_round_trip() {
        let maps = vec![map("http:80:5000"), map("https:443:5000")];
        assert_eq!(to_stored(&maps), "http:80:5000\nhttps:443:5000\n");
        assert_eq!(from_stored(&to_stored(&maps)), maps);
        assert_eq!(
            from_stored("junk\nhttp:80:5000\n"),
            vec![map("http:80:5000")]
        );
    }
}
