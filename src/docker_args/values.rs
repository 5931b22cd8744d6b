//! Parsers for option values — `KEY=VALUE` pairs, labels, host entries,
//! sizes, CPUs, ulimits, restart policies, namespaces and devices — each
//! refusing bad text with a message naming the option and what it expects.

use std::net::IpAddr;

use super::{Flag, OptionClass, bad_value, require};
use crate::engine::models::{
    DeviceMapping, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use crate::error::{Error, Result};

/// `KEY=VALUE`.
pub(super) fn key_value(name: &str, text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(Error::fail(format!(
            "Docker option {name} {text} needs KEY=VALUE"
        ))),
    }
}

/// `KEY=VALUE` for `-e` and `--build-arg`: a bare `KEY` (docker's "take it
/// from my environment") is refused, berth has no environment to give.
pub(super) fn variable(name: &str, text: &str) -> Result<(String, String)> {
    if !text.contains('=') {
        return Err(Error::fail(format!(
            "Docker option {name} {text} needs KEY=VALUE: berth does not pass its own environment through"
        )));
    }
    key_value(name, text)
}

/// `KEY=VALUE`, or `KEY` for an empty value; berth's own labels
/// (`com.dokku.*`, `dokku`) are refused: berth finds its containers by them.
pub(super) fn label(name: &str, text: &str) -> Result<(String, String)> {
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    if key.is_empty() {
        return Err(bad_value(name, text, "KEY=VALUE"));
    }
    if key == "dokku" || key.starts_with("com.dokku.") {
        return Err(Error::fail(format!(
            "Refused docker option {name} {text}: the labels dokku and com.dokku.* are berth's own"
        )));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `host:ip` or `host=ip` → the engine's `host:ip`; the IP may be
/// `host-gateway` or a bracketed IPv6 address.
pub(super) fn extra_host(name: &str, text: &str) -> Result<String> {
    let (host, ip) = text
        .split_once('=')
        .or_else(|| text.split_once(':'))
        .ok_or_else(|| bad_value(name, text, "host:ip"))?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|ip| ip.strip_suffix(']'))
        .unwrap_or(ip);
    if host.is_empty() || (ip != "host-gateway" && ip.parse::<IpAddr>().is_err()) {
        return Err(bad_value(name, text, "host:ip"));
    }
    Ok(format!("{host}:{ip}"))
}

/// An integer no smaller than `min`.
pub(super) fn integer(name: &str, text: &str, min: i64) -> Result<i64> {
    match text.parse::<i64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(bad_value(
            name,
            text,
            &format!("an integer of at least {min}"),
        )),
    }
}

/// A size in bytes, as docker's `RAMInBytes`: a number (fractions allowed)
/// and an optional unit b, k, m, g, t or p (powers of 1024, any case,
/// optionally followed by `ib`/`b`): `512m`, `1.5g`, `64MiB`, `1024`.
pub(super) fn size(name: &str, text: &str) -> Result<i64> {
    parse_size(text).ok_or_else(|| bad_value(name, text, "a size such as 512m or 1.5g"))
}

pub(super) fn parse_size(text: &str) -> Option<i64> {
    let end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    if whole.is_empty() || fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let (multiplier, rest) = match unit.chars().next() {
        Some('k') => (1u64 << 10, &unit[1..]),
        Some('m') => (1 << 20, &unit[1..]),
        Some('g') => (1 << 30, &unit[1..]),
        Some('t') => (1 << 40, &unit[1..]),
        Some('p') => (1 << 50, &unit[1..]),
        _ => (1, unit.as_str()),
    };
    let rest = if multiplier > 1 {
        rest.strip_prefix('i').unwrap_or(rest)
    } else {
        rest
    };
    if !matches!(rest, "" | "b") {
        return None;
    }
    let bytes = number.parse::<f64>().ok()? * multiplier as f64;
    (bytes.is_finite() && bytes < i64::MAX as f64).then_some(bytes as i64)
}

/// `--cpus 1.5` → 1 500 000 000 nano-CPUs; at most nine decimals, as docker.
pub(super) fn nano_cpus(name: &str, text: &str) -> Result<i64> {
    let invalid = || bad_value(name, text, "a number of CPUs such as 0.5 or 2");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(invalid());
    }
    if fraction.len() > 9 {
        return Err(bad_value(name, text, "at most nine decimals"));
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: i64 = format!("{fraction:0<9}").parse().map_err(|_| invalid())?;
    whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction))
        .ok_or_else(invalid)
}

/// `name=soft[:hard]` (hard defaults to soft; -1 is unlimited).
pub(super) fn ulimit(name: &str, text: &str) -> Result<ResourcesUlimits> {
    const NAMES: [&str; 15] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let invalid = || bad_value(name, text, "name=soft[:hard], e.g. nofile=1024:2048");
    let (limit, values) = text.split_once('=').ok_or_else(invalid)?;
    if !NAMES.contains(&limit) {
        return Err(bad_value(
            name,
            text,
            &format!("one of the limits {}", NAMES.join(", ")),
        ));
    }
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let parse = |n: &str| match n.parse::<i64>() {
        Ok(n) if n >= -1 => Ok(n),
        _ => Err(invalid()),
    };
    let (soft, hard) = (parse(soft)?, parse(hard)?);
    let unlimited = |n: i64| if n == -1 { i64::MAX } else { n };
    if unlimited(soft) > unlimited(hard) {
        return Err(bad_value(
            name,
            text,
            "a soft limit no greater than the hard limit",
        ));
    }
    Ok(ResourcesUlimits {
        name: Some(limit.to_string()),
        soft: Some(soft),
        hard: Some(hard),
    })
}

/// `no`, `always`, `unless-stopped` or `on-failure[:max-retries]`.
pub(super) fn restart_policy(name: &str, text: &str) -> Result<RestartPolicy> {
    let invalid = || bad_value(name, text, "no, always, unless-stopped or on-failure[:N]");
    let (policy, retries) = match text.split_once(':') {
        Some((policy, retries)) => (policy, Some(retries)),
        None => (text, None),
    };
    let policy = match policy {
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return Err(invalid()),
    };
    let maximum_retry_count = match retries {
        None => None,
        Some(n) if policy == RestartPolicyNameEnum::ON_FAILURE => Some(
            n.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(invalid)?,
        ),
        Some(_) => return Err(invalid()),
    };
    Ok(RestartPolicy {
        name: Some(policy),
        maximum_retry_count,
    })
}

/// The value of `--pid`/`--ipc`/`--uts`/`--userns`/`--cgroupns`: `host`
/// (class host-namespaces) or one of `safe`.
pub(super) fn host_only(
    value: String,
    flag: &Flag,
    allowed: &[OptionClass],
    safe: &[&str],
) -> Result<String> {
    if value == "host" {
        require(allowed, OptionClass::HostNamespaces, &flag.name, &value)?;
        return Ok(value);
    }
    if safe.contains(&value.as_str()) {
        return Ok(value);
    }
    let expected = std::iter::once("host")
        .chain(safe.iter().copied())
        .collect::<Vec<_>>()
        .join(" or ");
    Err(bad_value(&flag.name, &value, &expected))
}

/// `--device /dev/x[:/dev/y][:rwm]`, as docker's CLI reads it.
pub(super) fn device(name: &str, text: &str) -> Result<DeviceMapping> {
    let invalid = || bad_value(name, text, "/dev/host[:/dev/container][:permissions]");
    let permissions = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, cgroup) = match parts[..] {
        [source] => (source, source, "rwm"),
        [source, p] if permissions(p) => (source, source, p),
        [source, target] => (source, target, "rwm"),
        [source, target, p] if permissions(p) => (source, target, p),
        _ => return Err(invalid()),
    };
    if !source.starts_with('/') || !target.starts_with('/') {
        return Err(invalid());
    }
    Ok(DeviceMapping {
        path_on_host: Some(source.to_string()),
        path_in_container: Some(target.to_string()),
        cgroup_permissions: Some(cgroup.to_string()),
    })
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker_args::fixtures::{error, host};

    #[test]
    fn resources() {
        let host = host(
            "-m 512m --memory-reservation 256M --memory-swap -1 --cpus 1.5 -c 512 \
             --shm-size=1g --pids-limit 100 --ulimit nofile=1024:2048 --ulimit nproc=64",
        );
        assert_eq!(host.memory, Some(512 << 20));
        assert_eq!(host.memory_reservation, Some(256 << 20));
        assert_eq!(host.memory_swap, Some(-1));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.cpu_shares, Some(512));
        assert_eq!(host.shm_size, Some(1 << 30));
        assert_eq!(host.pids_limit, Some(100));
        assert_eq!(
            host.ulimits.unwrap(),
            vec![
                ResourcesUlimits {
                    name: Some("nofile".into()),
                    soft: Some(1024),
                    hard: Some(2048)
                },
                ResourcesUlimits {
                    name: Some("nproc".into()),
                    soft: Some(64),
                    hard: Some(64)
                }
            ]
        );
        assert_eq!(self::host("--memory-swap 1g").memory_swap, Some(1 << 30));
        assert!(error("--ulimit nofile=2048:1024").contains("no greater than"));
        assert!(error("--ulimit files=1").contains("one of the limits"));
        assert!(error("--cpus 1.0000000001").contains("nine decimals"));
        assert!(error("--cpus two").contains("number of CPUs"));
        assert!(error("-c -1").contains("integer"));
    }

    #[test]
    fn sizes_follow_docker() {
        let cases = [
            ("1024", 1024),
            ("0", 0),
            ("10b", 10),
            ("32k", 32 << 10),
            ("32K", 32 << 10),
            ("32kb", 32 << 10),
            ("32KiB", 32 << 10),
            ("512m", 512 << 20),
            ("512 MB", 512 << 20),
            ("1g", 1 << 30),
            ("1.5g", 3 << 29),
            ("0.5m", 1 << 19),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for text in [
            "", "m", "-1", "1.", ".5", "1.2.3", "12x", "1gg", "1 g b", "1bb",
        ] {
            assert_eq!(parse_size(text), None, "{text}");
        }
        assert_eq!(
            error("--memory 12x"),
            "Invalid value for docker option --memory: \"12x\" (expected a size such as 512m or 1.5g)"
        );
    }

    #[test]
    fn cpus_become_nano_cpus() {
        for (text, nanos) in [
            ("1", 1_000_000_000),
            ("0.5", 500_000_000),
            (".25", 250_000_000),
            ("2.000000001", 2_000_000_001),
            ("0", 0),
        ] {
            assert_eq!(nano_cpus("--cpus", text).unwrap(), nanos, "{text}");
        }
        for text in ["", ".", "-1", "1e3", "1.5.1", "99999999999999999"] {
            assert!(nano_cpus("--cpus", text).is_err(), "{text}");
        }
    }

    #[test]
    fn restart_policies() {
        let policy = |text: &str| host(text).restart_policy.unwrap();
        assert_eq!(
            policy("--restart on-failure:5"),
            RestartPolicy {
                name: Some(RestartPolicyNameEnum::ON_FAILURE),
                maximum_retry_count: Some(5)
            }
        );
        assert_eq!(
            policy("--restart=unless-stopped").name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        assert_eq!(
            policy("--restart always").name,
            Some(RestartPolicyNameEnum::ALWAYS)
        );
        assert_eq!(policy("--restart no").name, Some(RestartPolicyNameEnum::NO));
        assert!(error("--restart always:3").contains("on-failure[:N]"));
        assert!(error("--restart sometimes").contains("on-failure[:N]"));
    }
}
