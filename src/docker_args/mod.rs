//! Plugins' extra `docker run` / `docker build` options — the output of the
//! `docker-args-deploy`, `docker-args-run` and `docker-args-build` triggers
//! (e.g. `-e FOO=bar --label x=y -v data:/data --memory 512m`) — turned into
//! fields of the engine's request.
//!
//! berth never runs the docker CLI, so the text is split into words the way
//! xargs would ([`crate::words::split`]; nothing is evaluated), each option is
//! checked against an allow-list and parsed into a typed value, and only then
//! applied to the container body berth built. An option berth does not know
//! is refused, never dropped. Options that reach beyond the container —
//! privileges, the host's namespaces, host folders — belong to an
//! [`OptionClass`] and are refused unless the admin allowed that class.
//!
//! Both `--opt value` and `--opt=value` are accepted (`-e value` and `-e=value`
//! for short names); switches take no value word but accept `--opt=true|false`.
//!
//! `RunOptions::from_plugins` and `BuildOptions::from_plugins` fire the
//! triggers and read the allowed classes; callers need nothing else.
//!
//! The parts: [`RunOptions`] (`run`) parses `docker run` options and
//! `apply` lays them onto the container body; [`BuildOptions`] (`build`)
//! parses `docker build` options; `values` and `mounts` parse option values.
//! This file holds what they share: the option classes, the walk over the
//! words and the refusal messages.

mod apply;
mod build;
mod mounts;
mod run;
mod values;

pub use build::BuildOptions;
pub use run::RunOptions;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::Scope;

/// The global property (of the `plugin` plugin) naming the classes the
/// admin allowed: `plugin:set --global allowed-docker-options ...`.
pub const ALLOWED_PROPERTY: &str = "allowed-docker-options";

/// What the plugins print for `docker-args-<phase> ARGS` and
/// `docker-args-process-<phase> PROCESS_ARGS`, joined, and the option
/// classes the admin allowed.
fn from_triggers(
    ctx: &Context,
    phase: &str,
    args: &[&str],
    process_args: &[&str],
) -> Result<(String, Vec<OptionClass>)> {
    let mut text = ctx.fire(&format!("docker-args-{phase}"), args)?;
    text.push('\n');
    text.push_str(&ctx.fire(&format!("docker-args-process-{phase}"), process_args)?);
    Ok((text, allowed_classes(ctx)?))
}

/// The option classes the admin allowed
/// (`plugin:set --global allowed-docker-options`).
pub fn allowed_classes(ctx: &Context) -> Result<Vec<OptionClass>> {
    let allowed = ctx
        .store
        .property("plugin", &Scope::Global, ALLOWED_PROPERTY)?
        .unwrap_or_default();
    OptionClass::parse_list(&allowed)
}

/// An option class an admin can allow
/// (`plugin:set --global allowed-docker-options privileged,host-mounts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionClass {
    /// `--privileged`, `--cap-add`, `--security-opt` (but `no-new-privileges`),
    /// `--device`, `--device-cgroup-rule`.
    Privileged,
    /// `host` as the value of `--network`/`--net`, `--pid`, `--ipc`, `--uts`,
    /// `--userns` or `--cgroupns`.
    HostNamespaces,
    /// Bind mounts of host folders: `-v /src:/dst`, `--volume`,
    /// `--mount type=bind,...`.
    HostMounts,
}

impl OptionClass {
    /// Every class, in the order error messages list them.
    pub const ALL: [OptionClass; 3] = [
        OptionClass::Privileged,
        OptionClass::HostNamespaces,
        OptionClass::HostMounts,
    ];

    /// The name the admin writes.
    pub fn name(self) -> &'static str {
        match self {
            OptionClass::Privileged => "privileged",
            OptionClass::HostNamespaces => "host-namespaces",
            OptionClass::HostMounts => "host-mounts",
        }
    }

    /// Parses the admin's list: names separated by commas and/or blanks;
    /// empty text allows nothing. Repeated names count once.
    pub fn parse_list(text: &str) -> Result<Vec<OptionClass>> {
        let mut classes = Vec::new();
        for name in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|name| !name.is_empty())
        {
            let class = OptionClass::ALL
                .into_iter()
                .find(|class| class.name() == name)
                .ok_or_else(|| {
                    Error::fail(format!(
                        "Unknown docker option class {name}: valid classes are {}",
                        OptionClass::ALL.map(OptionClass::name).join(", ")
                    ))
                })?;
            if !classes.contains(&class) {
                classes.push(class);
            }
        }
        Ok(classes)
    }
}

/// An option word as given: `--name`, or `--name=value` split at the `=`.
struct Flag {
    name: String,
    inline: Option<String>,
}

impl Flag {
    /// The value of a switch: `--opt` is true, `--opt=false` false.
    fn switch(&self) -> Result<bool> {
        match self.inline.as_deref() {
            None => Ok(true),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(bad_value(&self.name, other, "true or false")),
        }
    }
}

/// The words of a trigger's output, consumed option by option.
struct Words {
    words: std::vec::IntoIter<String>,
}

impl Words {
    fn new(text: &str) -> Result<Words> {
        let words = crate::words::split(text)
            .map_err(|e| Error::fail(format!("Invalid docker options {text:?}: {e}")))?;
        Ok(Words {
            words: words.into_iter(),
        })
    }

    fn next_flag(&mut self) -> Result<Option<Flag>> {
        let Some(word) = self.words.next() else {
            return Ok(None);
        };
        if !word.starts_with('-') || word == "-" || word == "--" {
            return Err(Error::fail(format!(
                "Unexpected word {word:?} in docker options: each option starts with - or --"
            )));
        }
        Ok(Some(match word.split_once('=') {
            Some((name, value)) => Flag {
                name: name.to_string(),
                inline: Some(value.to_string()),
            },
            None => Flag {
                name: word,
                inline: None,
            },
        }))
    }

    /// The option's value: after its `=`, else the next word, whatever it is
    /// (`--memory-swap -1`).
    fn value(&mut self, flag: &Flag) -> Result<String> {
        match &flag.inline {
            Some(value) => Ok(value.clone()),
            None => self
                .words
                .next()
                .ok_or_else(|| Error::fail(format!("Docker option {} needs a value", flag.name))),
        }
    }
}

/// Refuses an option of a class the admin has not allowed.
fn require(allowed: &[OptionClass], class: OptionClass, name: &str, value: &str) -> Result<()> {
    if allowed.contains(&class) {
        return Ok(());
    }
    let option = if value.is_empty() {
        name.to_string()
    } else {
        format!("{name} {value}")
    };
    let class = class.name();
    Err(Error::fail(format!(
        "Refused docker option {option} (class {class}): allow it with plugin:set --global allowed-docker-options {class}"
    )))
}

fn unsupported(name: &str) -> Error {
    Error::fail(format!("Unsupported docker option {name}"))
}

fn bad_value(name: &str, value: &str, expected: &str) -> Error {
    Error::fail(format!(
        "Invalid value for docker option {name}: {value:?} (expected {expected})"
    ))
}

fn non_empty(name: &str, value: String) -> Result<String> {
    if value.is_empty() {
        return Err(Error::fail(format!("Docker option {name} needs a value")));
    }
    Ok(value)
}

/// What the tests of every part start from.
#[cfg(test)]
mod fixtures {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use super::{OptionClass, RunOptions};
    use crate::engine::models::{ContainerCreateBody, HostConfig};
    use crate::error::Result;
    use crate::host_path::{self, HostPath, Root};

    pub(super) const NONE: &[OptionClass] = &[];

    /// berth's body as the scheduler builds it.
    pub(super) fn berth_body() -> ContainerCreateBody {
        ContainerCreateBody {
            env: Some(vec!["A=1".into(), "PORT=5000".into(), "DYNO=web.1".into()]),
            labels: Some(HashMap::from([(
                "com.dokku.app-name".to_string(),
                "demo".to_string(),
            )])),
            host_config: Some(HostConfig {
                init: Some(true),
                network_mode: Some("berth".into()),
                binds: Some(vec!["/home/dokku/demo/data:/data".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Marks translated host paths so a test sees the translation happened:
    /// everything is under one root whose host path is `/host`.
    pub(super) fn to_host(path: &Path) -> Result<HostPath> {
        let root = Root {
            container: PathBuf::from("/"),
            host: Some(PathBuf::from("/host")),
            variable: "DOKKU_HOST_ROOT",
        };
        host_path::resolve(path, &[root])
    }

    pub(super) fn applied_with(text: &str, allowed: &[OptionClass]) -> ContainerCreateBody {
        let mut body = berth_body();
        RunOptions::parse(text, allowed)
            .expect("parses")
            .apply(&mut body, &to_host)
            .expect("applies");
        body
    }

    pub(super) fn applied(text: &str) -> ContainerCreateBody {
        applied_with(text, NONE)
    }

    pub(super) fn host(text: &str) -> HostConfig {
        applied(text).host_config.expect("host config")
    }

    pub(super) fn error(text: &str) -> String {
        RunOptions::parse(text, NONE)
            .expect_err("refused")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_classes_parse_from_the_admin_list() {
        assert_eq!(OptionClass::parse_list("").unwrap(), vec![]);
        assert_eq!(OptionClass::parse_list(" , ").unwrap(), vec![]);
        assert_eq!(
            OptionClass::parse_list("privileged,host-mounts host-namespaces, privileged").unwrap(),
            vec![
                OptionClass::Privileged,
                OptionClass::HostMounts,
                OptionClass::HostNamespaces
            ]
        );
        assert_eq!(
            OptionClass::parse_list("privileged,root")
                .unwrap_err()
                .to_string(),
            "Unknown docker option class root: valid classes are privileged, host-namespaces, host-mounts"
        );
        for class in OptionClass::ALL {
            assert_eq!(OptionClass::parse_list(class.name()).unwrap(), vec![class]);
        }
    }
}
