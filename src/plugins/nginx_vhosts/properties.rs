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
    /// `off`, or (for one app) a file of the app's in [`LOG_ROOT`].
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

/// Dokku's nginx properties, in name order.
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
    p("hsts", Shape::Bool, "true"),
    p("hsts-include-subdomains", Shape::Bool, "true"),
    p("hsts-max-age", Shape::Count, "15724800"),
    p("hsts-preload", Shape::Bool, "false"),
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

/// Where nginx writes apps' logs (Dokku's `NGINX_LOG_ROOT`). nginx runs
/// as root: a log path anywhere else would let a user have it create or
/// append to any file, and `nginx:*-logs` print it.
pub const LOG_ROOT: &str = "/var/log/nginx";

/// The default when it depends on the app (log paths).
pub fn default_for(property: &Property, app: &AppName) -> String {
    match property.name {
        "access-log-path" => format!("{LOG_ROOT}/{app}-access.log"),
        "error-log-path" => format!("{LOG_ROOT}/{app}-error.log"),
        _ => property.default.to_string(),
    }
}

/// A log file `app` may have: `LOG_ROOT/<app>-<name>.log` or
/// `LOG_ROOT/<app>.log`.
fn is_app_log(value: &str, app: &AppName) -> bool {
    let Some(file) = value
        .strip_prefix(LOG_ROOT)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return false;
    };
    let Some(stem) = file.strip_suffix(".log") else {
        return false;
    };
    let Some(rest) = stem.strip_prefix(app.as_str()) else {
        return false;
    };
    rest.is_empty()
        || (rest.starts_with('-')
            && rest[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)))
}

fn all(value: &str, ok: impl Fn(char) -> bool) -> bool {
    !value.is_empty() && value.chars().all(ok)
}

fn number_with_unit(value: &str, units: &[&str]) -> bool {
    let digits = value.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && (digits == value.len() || units.contains(&&value[digits..]))
}

/// Checks `value` for `property` of `app` (`None`: the global value).
pub fn check(property: &Property, value: &str, app: Option<&AppName>) -> Result<()> {
    if let (Shape::LogPath, false) = (property.shape, value == "off") {
        return match app {
            Some(app) if is_app_log(value, app) => Ok(()),
            Some(app) => Err(Error::fail(format!(
                "Invalid value for {}: {value} (use off, or a file of {app} in {LOG_ROOT}, such as {})",
                property.name,
                default_for(property, app)
            ))),
            None => Err(Error::fail(format!(
                "Invalid global value for {}: {value} (only off: each app logs to its own file in {LOG_ROOT})",
                property.name
            ))),
        };
    }
    let ok = match property.shape {
        Shape::Size => number_with_unit(value, &["k", "K", "m", "M", "g", "G"]),
        Shape::Time => number_with_unit(value, &["ms", "s", "m", "h", "d"]),
        Shape::OnOff => matches!(value, "on" | "off"),
        Shape::Bool => matches!(value, "true" | "false"),
        Shape::LogPath => true,
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
        assert!(check(size, "10m", None).is_ok());
        assert!(check(size, "10m; return 200", None).is_err());
        assert!(check(size, "", None).is_err());
        let token = find("x-forwarded-proto-value").unwrap();
        assert!(check(token, "$scheme", None).is_ok());
        assert!(check(token, "https;\ninclude /etc/passwd", None).is_err());
        assert!(check(find("proxy-buffers").unwrap(), "8 4k", None).is_ok());
    }

    #[test]
    fn log_paths_are_the_apps_own_files_in_the_log_root() {
        let app = AppName::new_app("demo").unwrap();
        let path = find("access-log-path").unwrap();
        for ok in [
            "off",
            "/var/log/nginx/demo-access.log",
            "/var/log/nginx/demo.log",
            "/var/log/nginx/demo-custom_2.log",
        ] {
            assert!(check(path, ok, Some(&app)).is_ok(), "{ok}");
        }
        for bad in [
            "/var/lib/dokku/data/ssh/ssh_host_ed25519_key",
            "/etc/shadow",
            "/var/log/nginx/other-access.log",
            "/var/log/nginx/demo-../../etc/x.log",
            "/var/log/nginx/sub/demo.log",
            "/var/log/nginx/demo-access.log.old",
            "/var/log/nginxdemo.log",
            "/any/where.log",
        ] {
            assert!(check(path, bad, Some(&app)).is_err(), "{bad}");
        }
        assert!(check(path, "off", None).is_ok());
        assert!(check(path, "/var/log/nginx/demo.log", None).is_err());
    }

    #[test]
    fn escape_removes_directive_syntax() {
        assert_eq!(escape("a.com;return 200{}\n\"'\\"), "a.comreturn 200");
        assert_eq!(escape("$remote_addr"), "$remote_addr");
    }
}
