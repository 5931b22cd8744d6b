//! An app's attachments to storage entries: `config/storage/<app>/mounts`,
//! one JSON object per line as Dokku 0.38 writes it
//! (`{entry_name,container_path,phases,process_type,subpath,readonly,
//! volume_options,volume_chown}`), and the colon form
//! (`/host:/ctr[:opts]`), which becomes an attachment to a `legacy-<hash>`
//! entry.

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use super::entry::{self, Entry};
use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::Scope;

pub const TWO_PATHS: &str = "Storage path must be two valid paths divided by colon.";
pub const BAD_VOLUME: &str = "Volume name must be two characters or more. Volume name must not contain invalid characters. Check that the path is absolute.";
/// The mount options Docker's `-v` takes.
pub const OPTIONS: &[&str] = &[
    "ro", "rw", "z", "Z", "shared", "slave", "private", "rshared", "rslave", "rprivate", "nocopy",
];
pub const PHASES: &[&str] = &["deploy", "run"];
pub const DEFAULT_PROCESS: &str = "_default_";

fn default_phases() -> Vec<String> {
    PHASES.iter().map(|p| p.to_string()).collect()
}

fn default_process() -> String {
    DEFAULT_PROCESS.to_string()
}

/// One attachment of an app to an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(default)]
    pub entry_name: String,
    pub container_path: String,
    #[serde(default = "default_phases")]
    pub phases: Vec<String>,
    #[serde(default = "default_process")]
    pub process_type: String,
    #[serde(default)]
    pub subpath: String,
    #[serde(default)]
    pub readonly: bool,
    /// Comma-separated docker mount options besides `ro`.
    #[serde(default)]
    pub volume_options: String,
    #[serde(default)]
    pub volume_chown: String,
    /// Where berth before named entries kept the source; read only, and
    /// turned into a `legacy-<hash>` entry on the next write.
    #[serde(default, skip_serializing)]
    pub host_path: Option<String>,
}

impl Attachment {
    /// Docker's mode field: `ro` first, then the options.
    pub fn mode(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if self.readonly {
            parts.push("ro");
        }
        parts.extend(self.volume_options.split(',').filter(|o| !o.is_empty()));
        parts.join(",")
    }

    /// Docker's `-v` value with `source` (the entry's host path or volume).
    pub fn bind(&self, source: &str) -> String {
        let source = if self.subpath.is_empty() {
            source.to_string()
        } else {
            format!("{}/{}", source.trim_end_matches('/'), self.subpath)
        };
        match self.mode() {
            mode if mode.is_empty() => format!("{source}:{}", self.container_path),
            mode => format!("{source}:{}:{mode}", self.container_path),
        }
    }

    pub fn in_phase(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }

    /// Whether this attachment applies to `process` (`None`: any).
    pub fn for_process(&self, process: Option<&str>) -> bool {
        match process {
            None => true,
            Some(p) => self.process_type == DEFAULT_PROCESS || self.process_type == p,
        }
    }

    /// Whether two attachments could land in one container at one path.
    pub fn collides_with(&self, other: &Attachment) -> bool {
        self.container_path == other.container_path
            && (self.process_type == other.process_type
                || self.process_type == DEFAULT_PROCESS
                || other.process_type == DEFAULT_PROCESS)
            && self.phases.iter().any(|p| other.in_phase(p))
    }
}

/// A colon-form mount, parsed: its source and the attachment it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Legacy {
    pub source: String,
    pub attachment: Attachment,
}

impl Legacy {
    /// Parses and validates `<host-path|volume>:<container-path>[:opts]`.
    pub fn parse(spec: &str) -> Result<Legacy> {
        if spec.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::fail(
                "Storage path must not contain spaces or control characters.",
            ));
        }
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, container, options) = match parts[..] {
            [host, container] => (host, container, ""),
            [host, container, options] => (host, container, options),
            _ => return Err(Error::fail(TWO_PATHS)),
        };
        if host.is_empty() || !container.starts_with('/') {
            return Err(Error::fail(TWO_PATHS));
        }
        if !host.starts_with('/') && !is_volume_name(host) {
            return Err(Error::fail(BAD_VOLUME));
        }
        if has_parent_dir(host) || has_parent_dir(container) {
            return Err(Error::fail(
                "Storage path must not contain '..' components.",
            ));
        }
        if parts.len() == 3 {
            check_options(options)?;
        }
        let readonly = options.split(',').any(|o| o == "ro");
        let rest: Vec<&str> = options
            .split(',')
            .filter(|o| !o.is_empty() && *o != "ro")
            .collect();
        Ok(Legacy {
            source: host.to_string(),
            attachment: Attachment {
                entry_name: entry::legacy_name(host),
                container_path: container.to_string(),
                phases: default_phases(),
                process_type: default_process(),
                subpath: String::new(),
                readonly,
                volume_options: rest.join(","),
                volume_chown: String::new(),
                host_path: None,
            },
        })
    }

    /// The mount as Docker's `-v` takes it (options normalised: `ro` first).
    #[cfg(test)]
    pub fn spec(&self) -> String {
        self.attachment.bind(&self.source)
    }
}

/// `ro,z,…`: each among Docker's `-v` options.
pub fn check_options(options: &str) -> Result<()> {
    if let Some(bad) = options.split(',').find(|o| !OPTIONS.contains(o)) {
        return Err(Error::fail(format!(
            "Invalid mount option '{bad}', valid options: {}",
            OPTIONS.join(", ")
        )));
    }
    Ok(())
}

/// Docker's volume name rule: `[A-Za-z0-9][A-Za-z0-9_.-]+`.
pub fn is_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub fn has_parent_dir(path: &str) -> bool {
    Path::new(path)
        .components()
        .any(|c| c == Component::ParentDir)
}

/// A container path for `--container-dir`: absolute, no `..`, nothing
/// Docker's `-v` would read as a separator.
pub fn check_container_dir(path: &str) -> Result<()> {
    if !path.starts_with('/')
        || has_parent_dir(path)
        || path.contains([':', ','])
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::fail(format!(
            "Invalid container directory {path:?}: specify an absolute path without '..', ':', ',' or spaces"
        )));
    }
    Ok(())
}

/// A `--volume-subpath`: relative, inside the entry.
pub fn check_subpath(path: &str) -> Result<()> {
    let clean = Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if path.is_empty()
        || !clean
        || path.contains([':', ','])
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::fail(format!(
            "Invalid volume subpath {path:?}: specify a relative path inside the entry, without '..', ':', ',' or spaces"
        )));
    }
    Ok(())
}

/// The app's attachments, in the order they were made. Lines berth wrote
/// before named entries (a `host_path`, no `entry_name`) are read as
/// attachments to their `legacy-<hash>` entry.
pub fn read(ctx: &Context, app: &AppName) -> Result<Vec<Attachment>> {
    let text = ctx
        .store
        .property("storage", &Scope::App(app.clone()), "mounts")?
        .unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut attachment: Attachment = serde_json::from_str(line).map_err(|e| {
                Error::fail(format!(
                    "Unable to read the mounts of {app} (config/storage/{app}/mounts): {e}"
                ))
            })?;
            if attachment.entry_name.is_empty()
                && let Some(host) = &attachment.host_path
            {
                attachment.entry_name = entry::legacy_name(host);
                let options: Vec<&str> = attachment.volume_options.split(',').collect();
                attachment.readonly |= options.contains(&"ro");
                attachment.volume_options = options
                    .into_iter()
                    .filter(|o| !o.is_empty() && *o != "ro")
                    .collect::<Vec<_>>()
                    .join(",");
            }
            Ok(attachment)
        })
        .collect()
}

/// Writes the app's attachments; an entry that only an old line knew of
/// is registered first, so every written line names a registered entry.
pub fn write(ctx: &Context, app: &AppName, attachments: &[Attachment]) -> Result<()> {
    for attachment in attachments {
        if let Some(host) = &attachment.host_path
            && entry::load(ctx, &attachment.entry_name)?.is_none()
        {
            entry::save(ctx, &legacy_entry(&attachment.entry_name, host))?;
        }
    }
    let text: String = attachments
        .iter()
        .map(|a| serde_json::to_string(a).expect("an attachment serialises") + "\n")
        .collect();
    ctx.store
        .set_property("storage", &Scope::App(app.clone()), "mounts", &text)
}

/// The entry a colon-form mount of `source` is attached to.
pub fn legacy_entry(name: &str, source: &str) -> Entry {
    Entry {
        name: name.to_string(),
        scheduler: entry::DOCKER_LOCAL.to_string(),
        host_path: source.to_string(),
        ..Default::default()
    }
}

/// Where an attachment's entry is: the registered entry's host path, else
/// what an old line recorded.
pub fn source(ctx: &Context, attachment: &Attachment) -> Result<String> {
    match entry::load(ctx, &attachment.entry_name)? {
        Some(entry) => Ok(entry.host_path),
        None => attachment.host_path.clone().ok_or_else(|| {
            Error::fail(format!(
                "Storage entry {} is mounted at {} but does not exist: unmount it (storage:unmount APP {}) or create it again",
                attachment.entry_name, attachment.container_path, attachment.entry_name
            ))
        }),
    }
}

/// Every app attachment to `name`, by app.
pub fn users(ctx: &Context, name: &str) -> Result<Vec<(AppName, Attachment)>> {
    let mut found = Vec::new();
    for app in ctx.store.apps()? {
        for attachment in read(ctx, &app)? {
            if attachment.entry_name == name {
                found.push((app.clone(), attachment));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(spec: &str) -> String {
        Legacy::parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn parses_paths_volumes_and_options() {
        let m = Legacy::parse("/srv/data:/data").unwrap();
        assert_eq!(m.source, "/srv/data");
        assert_eq!(m.attachment.container_path, "/data");
        assert_eq!(m.attachment.phases, ["deploy", "run"]);
        assert_eq!(m.attachment.entry_name, entry::legacy_name("/srv/data"));
        assert_eq!(m.spec(), "/srv/data:/data");
        let v = Legacy::parse("cache-demo:/cache:z,ro").unwrap();
        assert!(v.attachment.readonly);
        assert_eq!(v.attachment.volume_options, "z");
        assert_eq!(v.spec(), "cache-demo:/cache:ro,z");
    }

    #[test]
    fn refuses_what_docker_or_dokku_would_not_take() {
        for spec in ["/a", "/a:", ":/b", "/a:b", "/a:/b:ro:x", ""] {
            assert_eq!(fails(spec), TWO_PATHS, "{spec}");
        }
        for spec in ["x:/b", "-x:/b", "a$b:/c", "a/b:/c"] {
            assert_eq!(fails(spec), BAD_VOLUME, "{spec}");
        }
        assert!(fails("/a/../etc:/b").contains(".."));
        assert!(fails("/a:/b/..").contains(".."));
        assert!(fails("/a:/b:exec").contains("Invalid mount option 'exec'"));
        assert!(fails("/a:/b:").contains("Invalid mount option ''"));
        assert!(fails("/a:/b:ro,,z").contains("Invalid mount option ''"));
        assert!(fails("/a b:/c").contains("spaces"));
        assert!(fails("/a\n-v /etc:/c").contains("spaces"));
    }

    #[test]
    fn records_are_dokkus_lines_and_old_lines_still_read() {
        let m = Legacy::parse("/srv/x:/x:ro").unwrap();
        let line = serde_json::to_string(&m.attachment).unwrap();
        assert_eq!(
            line,
            format!(
                r#"{{"entry_name":"{}","container_path":"/x","phases":["deploy","run"],"process_type":"_default_","subpath":"","readonly":true,"volume_options":"","volume_chown":""}}"#,
                entry::legacy_name("/srv/x")
            )
        );
        assert_eq!(
            serde_json::from_str::<Attachment>(&line).unwrap(),
            m.attachment
        );
        let old: Attachment = serde_json::from_str(
            r#"{"host_path":"/srv/x","container_path":"/x","volume_options":"ro","phases":["deploy","run"],"process_type":"_default_"}"#,
        )
        .unwrap();
        assert_eq!(old.host_path.as_deref(), Some("/srv/x"));
    }

    #[test]
    fn binds_render_subpath_and_modes() {
        let mut a = Legacy::parse("/e:/app/storage").unwrap().attachment;
        a.subpath = "uploads".into();
        a.readonly = true;
        a.volume_options = "Z".into();
        assert_eq!(a.bind("/e"), "/e/uploads:/app/storage:ro,Z");
        assert!(a.for_process(Some("web")));
        a.process_type = "worker".into();
        assert!(!a.for_process(Some("web")));
        assert!(a.for_process(None));
    }

    #[test]
    fn container_dirs_and_subpaths_are_confined() {
        assert!(check_container_dir("/app/storage").is_ok());
        for bad in ["app", "/a/../b", "/a:b", "/a b", "/a,b"] {
            assert!(check_container_dir(bad).is_err(), "{bad}");
        }
        assert!(check_subpath("uploads/img").is_ok());
        for bad in ["", "/abs", "../up", "a/../../b", "./a", "a:b"] {
            assert!(check_subpath(bad).is_err(), "{bad}");
        }
    }
}
