//! `nginx:set` properties: names, defaults, and the shape each value must
//! have. Every value is checked when set *and* when rendered, so nothing a
//! user typed can carry an nginx directive into a config.

use crate::app_name::AppName;
use crate::error::{Error, Result};

#[derive(Clone, Copy)]
pub enum Shape {
    /// `1m`, `512k`, `0`
    Size,
    /// `60s`, `500ms`, `1m`
    Time,
    OnOff,
    Bool,
    /// An absolute path, or `off`.
    LogPath,
    /// A word: a log format name, a relative file path.
    Word,
    /// An nginx variable or a plain token: `$remote_addr`, `https`.
    Token,
    /// An IPv4/IPv6 address, or empty.
    Address,
    /// `8 4k`
    Buffers,
    Count,
}

pub struct Property {
    pub name: &'static str,
    pub shape: Shape,
    pub default: &'static str,
}

const fn p(name: &'static str, shape: Shape, default: &'static str) -> Property {
    Property {
        name,
        shape,
        default,
    }
}

/// Dokku's nginx properties (reference §5), in name order.
pub const PROPERTIES: &[Property] = &[
    p("access-log-format", Shape::Word, ""),
    p("access-log-path", Shape::LogPath, ""),
    p("bind-address-ipv4", Shape::Address, ""),
    p("bind-address-ipv6", Shape::Address, "::"),
    p("client-body-timeout", Shape::Time, "60s"),
    p("client-header-timeout", Shape::Time, "60s"),
    p("client-max-body-size", Shape::Size, "1m"),
    p("disable-custom-config", Shape::Bool, "false"),
    p("error-log-path", Shape::LogPath, ""),
    p("keepalive-timeout", Shape::Time, "75s"),
    p("lingering-timeout", Shape::Time, "5s"),
    p("nginx-conf-sigil-path", Shape::Word, "nginx.conf.hbs"),
    p("proxy-buffer-size", Shape::Size, "4k"),
    p("proxy-buffering", Shape::OnOff, "on"),
    p("proxy-buffers", Shape::Buffers, "8 4k"),
    p("proxy-busy-buffers-size", Shape::Size, "8k"),
    p("proxy-connect-timeout", Shape::Time, "60s"),
    p("proxy-keepalive", Shape::Count, "32"),
    p("proxy-read-timeout", Shape::Time, "60s"),
    p("proxy-send-timeout", Shape::Time, "60s"),
    p("send-timeout", Shape::Time, "60s"),
    p("underscore-in-headers", Shape::OnOff, "off"),
    p("x-forwarded-for-value", Shape::Token, "$remote_addr"),
    p("x-forwarded-port-value", Shape::Token, "$server_port"),
    p("x-forwarded-proto-value", Shape::Token, "$scheme"),
    p("x-forwarded-ssl", Shape::Token, ""),
];

pub fn find(name: &str) -> Option<&'static Property> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// The default when it depends on the app (log paths).
pub fn default_for(property: &Property, app: &AppName) -> String {
    match property.name {
        "access-log-path" => format!("/var/log/nginx/{app}-access.log"),
        "error-log-path" => format!("/var/log/nginx/{app}-error.log"),
        _ => property.default.to_string(),
    }
}

fn all(value: &str, ok: impl Fn(char) -> bool) -> bool {
    !value.is_empty() && value.chars().all(ok)
}

fn number_with_unit(value: &str, units: &[&str]) -> bool {
    let digits = value.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && (digits == value.len() || units.contains(&&value[digits..]))
}

pub fn check(property: &Property, value: &str) -> Result<()> {
    let ok = match property.shape {
        Shape::Size => number_with_unit(value, &["k", "K", "m", "M", "g", "G"]),
        Shape::Time => number_with_unit(value, &["ms", "s", "m", "h", "d"]),
        Shape::OnOff => matches!(value, "on" | "off"),
        Shape::Bool => matches!(value, "true" | "false"),
        Shape::LogPath => {
            value == "off"
                || (value.starts_with('/')
                    && all(value, |c| c.is_ascii_alphanumeric() || "._/-".contains(c))
                    && !value.contains(".."))
        }
        Shape::Word => {
            all(value, |c| c.is_ascii_alphanumeric() || "._/-".contains(c)) && !value.contains("..")
        }
        Shape::Token => {
            let body = value.strip_prefix('$').unwrap_or(value);
            all(body, |c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        }
        Shape::Address => all(value, |c| c.is_ascii_hexdigit() || ".:".contains(c)),
        Shape::Buffers => value.split_once(' ').is_some_and(|(n, size)| {
            number_with_unit(n, &[]) && number_with_unit(size, &["k", "K", "m", "M"])
        }),
        Shape::Count => number_with_unit(value, &[]),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "Invalid value for {}: {value}",
            property.name
        )))
    }
}

/// The safety net under every rendered value: only characters that cannot
/// end a directive or open a block survive.
pub fn escape(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._:/-*$@[] ,=+~".contains(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_shape() {
        let size = find("client-max-body-size").unwrap();
        assert!(check(size, "10m").is_ok());
        assert!(check(size, "10m; return 200").is_err());
        assert!(check(size, "").is_err());
        let token = find("x-forwarded-proto-value").unwrap();
        assert!(check(token, "$scheme").is_ok());
        assert!(check(token, "https;\ninclude /etc/passwd").is_err());
        let path = find("access-log-path").unwrap();
        assert!(check(path, "/var/log/x.log").is_ok());
        assert!(check(path, "off").is_ok());
        assert!(check(path, "/x/../etc").is_err());
        assert!(check(find("proxy-buffers").unwrap(), "8 4k").is_ok());
    }

    #[test]
    fn escape_removes_directive_syntax() {
        assert_eq!(escape("a.com;return 200{}\n\"'\\"), "a.comreturn 200");
        assert_eq!(escape("$remote_addr"), "$remote_addr");
    }
}
