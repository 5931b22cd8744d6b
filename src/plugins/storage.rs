//! Dokku's `storage` plugin, legacy form: bind mounts of host folders or
//! docker volumes into an app's containers (`storage:mount <app>
//! /host:/ctr[:opts]`), and `storage:ensure-directory`, which prepares a
//! folder under `$DOKKU_LIB_ROOT/data/storage/`.
//!
//! Property: `config/storage/<app>/mounts`, one JSON object per line
//! (`{"host_path","container_path","volume_options","phases","process_type"}`).
//! Every mount applies to the `deploy` and `run` phases, never to builds.
//! Trigger `storage-app-mounts APP PHASE` answers the phase's mounts, one
//! `HOST:CONTAINER[:opts]` bind per line, as stored: the container-spec
//! builder (`container_spec`) parses them as `-v` values and translates the
//! host paths. Changes take effect on the next deploy or restart, as in
//! Dokku.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "storage",
    description: "Manage mounted volumes",
    default_command: None,
    commands: &[
        Command {
            name: "storage:ensure-directory",
            usage: "[--chown option] <directory>",
            description: "Creates a persistent storage directory in the recommended storage path",
            run: ensure_directory,
        },
        Command {
            name: "storage:list",
            usage: "<app> [--format text|json]",
            description: "List bind mounts for app's container(s) (host:container)",
            run: list,
        },
        Command {
            name: "storage:mount",
            usage: "<app> <host-dir:container-dir>",
            description: "Create a new bind mount",
            run: mount,
        },
        Command {
            name: "storage:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a storage report for one or more apps",
            run: report,
        },
        Command {
            name: "storage:unmount",
            usage: "<app> <host-dir:container-dir>",
            description: "Remove an existing bind mount",
            run: unmount,
        },
    ],
    triggers: &[("storage-app-mounts", app_mounts)],
};

const TWO_PATHS: &str = "Storage path must be two valid paths divided by colon.";
const BAD_VOLUME: &str = "Volume name must be two characters or more. Volume name must not contain invalid characters. Check that the path is absolute.";
const OPTIONS: &[&str] = &[
    "ro", "rw", "z", "Z", "shared", "slave", "private", "rshared", "rslave", "rprivate", "nocopy",
];
const PHASES: &[&str] = &["deploy", "run"];

/// One mount of an app, as stored: a line of `config/storage/<app>/mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// An absolute host path, or a docker volume name.
    pub host_path: String,
    pub container_path: String,
    /// Comma-separated docker mount options (`ro`, `z`…), or empty.
    #[serde(default)]
    pub volume_options: String,
    pub phases: Vec<String>,
    pub process_type: String,
}

impl Mount {
    /// Parses and validates `<host-path|volume>:<container-path>[:opts]`.
    pub fn parse(spec: &str) -> Result<Mount> {
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
        if let Some(bad) = options
            .split(',')
            .find(|o| parts.len() == 3 && !OPTIONS.contains(o))
        {
            return Err(Error::fail(format!(
                "Invalid mount option '{bad}', valid options: {}",
                OPTIONS.join(", ")
            )));
        }
        Ok(Mount {
            host_path: host.to_string(),
            container_path: container.to_string(),
            volume_options: options.to_string(),
            phases: PHASES.iter().map(|p| p.to_string()).collect(),
            process_type: "_default_".to_string(),
        })
    }

    fn is_volume(&self) -> bool {
        !self.host_path.starts_with('/')
    }

    /// Docker's `-v` form with `host` as the source.
    fn bind_with(&self, host: &str) -> String {
        if self.volume_options.is_empty() {
            format!("{host}:{}", self.container_path)
        } else {
            format!("{host}:{}:{}", self.container_path, self.volume_options)
        }
    }

    /// The mount as the user wrote it (untranslated).
    pub fn spec(&self) -> String {
        self.bind_with(&self.host_path)
    }
}

/// Docker's volume name rule: `[A-Za-z0-9][A-Za-z0-9_.-]+`.
fn is_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn has_parent_dir(path: &str) -> bool {
    Path::new(path)
        .components()
        .any(|c| c == Component::ParentDir)
}

fn read_mounts(ctx: &Context, app: &AppName) -> Result<Vec<Mount>> {
    let text = ctx
        .store
        .property("storage", &Scope::App(app.clone()), "mounts")?
        .unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|e| {
                Error::fail(format!(
                    "Unable to read the mounts of {app} (config/storage/{app}/mounts): {e}"
                ))
            })
        })
        .collect()
}

fn write_mounts(ctx: &Context, app: &AppName, mounts: &[Mount]) -> Result<()> {
    let text: String = mounts
        .iter()
        .map(|m| serde_json::to_string(m).expect("a mount serialises") + "\n")
        .collect();
    ctx.store
        .set_property("storage", &Scope::App(app.clone()), "mounts", &text)
}

/// `<app> <spec>`: the app and the parsed mount, before any write.
/// `storage:mount|unmount <app> <host-dir:container-dir[:opts]>`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct MountArgs {
    app: Option<String>,
    mount: Option<String>,
    /// Dokku's newer forms (named entries) have more words.
    #[arg(allow_hyphen_values = true)]
    extra: Vec<String>,
}

fn app_and_mount(ctx: &Context, command: &str, args: &[String]) -> Result<(AppName, Mount)> {
    let args: MountArgs = crate::args::parse(command, args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let spec = args
        .mount
        .ok_or_else(|| Error::fail("Please specify a mount path"))?;
    if let Some(extra) = args.extra.first() {
        return Err(Error::fail(format!(
            "Unexpected argument: {extra} (berth supports the legacy form <host-dir:container-dir> only)"
        )));
    }
    Ok((app, Mount::parse(&spec)?))
}

fn mount(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, new) = app_and_mount(ctx, "storage:mount", &args)?;
    if !new.is_volume() {
        check_host_path(ctx, Path::new(&new.host_path))?;
    }
    let _lock = ctx.store.lock(&Scope::App(app.clone()))?;
    let mut mounts = read_mounts(ctx, &app)?;
    if mounts.iter().any(|m| m.spec() == new.spec()) {
        return Err(Error::fail("Mount path already exists."));
    }
    // Docker refuses two mounts at one container path: refuse it now rather
    // than at the next deploy.
    if let Some(taken) = mounts
        .iter()
        .find(|m| m.container_path == new.container_path)
    {
        return Err(Error::fail(format!(
            "Container path {} is already mounted ({}); unmount it first.",
            new.container_path,
            taken.spec()
        )));
    }
    mounts.push(new);
    write_mounts(ctx, &app, &mounts)
}

/// Where a bind mount's host path may be, whoever asks:
/// - inside the storage folder (`data/storage`, Dokku's documented place,
///   filled by `storage:ensure-directory`): always;
/// - the host's root, `/proc`, `/sys`, `/dev`, a folder holding the Docker
///   socket, and berth's own roots: never (each hands the app the host);
/// - anywhere else: once an admin allowed the `host-mounts` class, as for
///   `-v` from plugins (`plugin:set --global allowed-docker-options
///   host-mounts`).
///
/// An existing path is judged by where its symlinks lead too.
fn check_host_path(ctx: &Context, path: &Path) -> Result<()> {
    let storage = ctx.store.lib_root().join("data/storage");
    let resolved = std::fs::canonicalize(path).ok();
    let forms: Vec<&Path> = std::iter::once(path).chain(resolved.as_deref()).collect();
    let storage_forms: Vec<PathBuf> = std::iter::once(storage.clone())
        .chain(std::fs::canonicalize(&storage).ok())
        .collect();
    let in_storage = |p: &Path| storage_forms.iter().any(|s| p.starts_with(s) && p != s);
    if forms.iter().all(|p| in_storage(p)) {
        return Ok(());
    }
    let sockets = [
        Path::new("/var/run/docker.sock"),
        Path::new("/run/docker.sock"),
    ];
    let roots = [
        ctx.store.dokku_root(),
        ctx.store.lib_root(),
        Path::new(crate::host_path::PLATFORM_MOUNT),
    ];
    for form in &forms {
        let kernel = ["/proc", "/sys", "/dev"]
            .iter()
            .any(|k| form.starts_with(k));
        let holds_socket = sockets.iter().any(|s| s.starts_with(form));
        let berths = roots
            .iter()
            .any(|r| r.starts_with(form) || form.starts_with(r));
        if *form == Path::new("/") || kernel || holds_socket || berths {
            return Err(Error::fail(format!(
                "Refusing to mount {}: it would give the app the host's {}",
                path.display(),
                if *form == Path::new("/") {
                    "whole file system"
                } else if kernel {
                    "kernel interfaces"
                } else if holds_socket {
                    "Docker engine (its socket)"
                } else {
                    "berth state"
                }
            )));
        }
    }
    let allowed = crate::docker_args::allowed_classes(ctx)?;
    if !allowed.contains(&crate::docker_args::OptionClass::HostMounts) {
        return Err(Error::fail(format!(
            "Mounting {} needs the host-mounts class, as it is outside {}: an admin allows it with plugin:set --global allowed-docker-options host-mounts, or use storage:ensure-directory and a path under {}",
            path.display(),
            storage.display(),
            storage.display()
        )));
    }
    Ok(())
}

fn unmount(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, old) = app_and_mount(ctx, "storage:unmount", &args)?;
    let _lock = ctx.store.lock(&Scope::App(app.clone()))?;
    let mut mounts = read_mounts(ctx, &app)?;
    let before = mounts.len();
    mounts.retain(|m| m.spec() != old.spec());
    if mounts.len() == before {
        return Err(Error::fail("Mount path does not exist."));
    }
    write_mounts(ctx, &app, &mounts)
}

#[derive(Serialize)]
struct Listed<'a> {
    host_path: &'a str,
    container_path: &'a str,
    volume_options: &'a str,
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let crate::args::ListArgs { app, format } = crate::args::parse("storage:list", &args)?;
    let format = format.unwrap_or_else(|| "text".to_string());
    let app = ctx.existing_app(app.as_deref())?;
    let mounts = read_mounts(ctx, &app)?;
    match format.as_str() {
        "text" => {
            ctx.out.info1(format!("{app} volume bind-mounts:"))?;
            for m in &mounts {
                ctx.out.verbose(m.spec())?;
            }
            Ok(())
        }
        "json" => {
            let listed: Vec<Listed> = mounts
                .iter()
                .map(|m| Listed {
                    host_path: &m.host_path,
                    container_path: &m.container_path,
                    volume_options: &m.volume_options,
                })
                .collect();
            ctx.out
                .line(serde_json::to_string(&listed).expect("mounts serialise"))
        }
        other => Err(Error::fail(format!(
            "Invalid --format value specified: {other} (valid: json, text)"
        ))),
    }
}

/// `-v a:b -v c:d`: the phase's mounts as Dokku's report shows them.
fn docker_flags(mounts: &[Mount], phase: &str) -> String {
    mounts
        .iter()
        .filter(|m| m.phases.iter().any(|p| p == phase))
        .map(|m| format!("-v {}", m.spec()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "storage:report",
        title: "storage",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| {
        let crate::report::Target::App(app) = target else {
            return Ok(Rows::new());
        };
        let mounts = read_mounts(ctx, app)?;
        let rows: Rows = ["build", "deploy", "run"]
            .into_iter()
            .map(|phase| {
                (
                    format!("--storage-{phase}-mounts"),
                    docker_flags(&mounts, phase),
                )
            })
            .collect();
        Ok(rows)
    })
}

/// `storage-app-mounts APP PHASE`: one bind per line, as the admin wrote
/// it (the container-spec builder parses and translates every answer).
fn app_mounts(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let phase = args.get(1).map_or("", String::as_str);
    Ok(read_mounts(ctx, &app)?
        .iter()
        .filter(|m| m.phases.iter().any(|p| p == phase))
        .map(|m| format!("{}\n", m.spec()))
        .collect())
}

/// `--chown` presets: the uid and gid to give, or none.
fn chown_id(option: &str) -> Result<Option<u32>> {
    match option {
        "herokuish" => Ok(Some(32767)),
        "heroku" => Ok(Some(1000)),
        "packeto" | "paketo" => Ok(Some(2000)),
        "root" => Ok(Some(0)),
        "false" => Ok(None),
        n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n
            .parse()
            .map(Some)
            .map_err(|_| Error::fail("Unsupported chown permissions")),
        _ => Err(Error::fail("Unsupported chown permissions")),
    }
}

/// A storage directory name: `[A-Za-z0-9._-]`, and not `.` or `..`.
fn is_directory_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `storage:ensure-directory [--chown PRESET|ID] <directory>`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct EnsureDirectoryArgs {
    #[arg(long, default_value = "herokuish")]
    chown: String,
    directory: Option<String>,
}

fn ensure_directory(ctx: &Context, args: Vec<String>) -> Result<()> {
    let EnsureDirectoryArgs { chown, directory } =
        crate::args::parse("storage:ensure-directory", &args)?;
    let directory =
        directory.ok_or_else(|| Error::fail("Please specify a name for the directory"))?;
    if !is_directory_name(&directory) {
        return Err(Error::fail(
            "Directory can only contain the following set of characters: [A-Za-z0-9._-]",
        ));
    }
    let id = chown_id(&chown)?;
    let path = ctx.store.lib_root().join("data/storage").join(&directory);
    ctx.out
        .info1(format!("Ensuring {} exists", path.display()))?;
    crate::store::atomic::ensure_dir(&path)?;
    if let Some(id) = id {
        ctx.out
            .verbose_quiet(format!("Setting directory ownership to {id}:{id}"))?;
        chown_tree(&path, id)?;
    }
    ctx.out.verbose_quiet("Directory ready for mounting")
}

/// `chown -R id:id`, never following symlinks.
fn chown_tree(path: &Path, id: u32) -> Result<()> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dir = open(path, flags, Mode::empty())
        .map_err(|e| Error::fail(format!("Unable to open {}: {e}", path.display())))?;
    chown_dir(dir, id, path)
}

/// Chowns the open folder `dir` and everything in it, by descriptor:
/// entries are changed with `fchownat(…, AT_SYMLINK_NOFOLLOW)` and entered
/// with `openat(…, O_NOFOLLOW | O_DIRECTORY)`, so a symlink swapped in
/// while the walk runs (by an app that writes into the folder) is never
/// followed out of it.
fn chown_dir(dir: std::os::fd::OwnedFd, id: u32, shown: &Path) -> Result<()> {
    use nix::dir::{Dir, Type};
    use nix::fcntl::{AtFlags, OFlag, openat};
    use nix::sys::stat::Mode;
    use nix::unistd::{Gid, Uid, fchown, fchownat};
    use std::os::unix::ffi::OsStrExt;
    let fail = |what: &str, e: nix::Error| {
        Error::fail(format!("Unable to {what} {}: {e}", shown.display()))
    };
    let (uid, gid) = (Some(Uid::from_raw(id)), Some(Gid::from_raw(id)));
    fchown(&dir, uid, gid).map_err(|e| fail("change the owner of", e))?;
    let mut listing = Dir::from_fd(
        dir.try_clone()
            .map_err(|e| Error::fail(format!("Unable to read {}: {e}", shown.display())))?,
    )
    .map_err(|e| fail("list", e))?;
    let mut subdirs = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(|e| fail("list", e))?;
        let name = entry.file_name().to_owned();
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        fchownat(
            &dir,
            name.as_c_str(),
            uid,
            gid,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| fail("change the owner of an entry of", e))?;
        if entry.file_type() == Some(Type::Directory) {
            subdirs.push(name);
        }
    }
    for name in subdirs {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(&dir, name.as_c_str(), flags, Mode::empty()) {
            Ok(child) => {
                let shown = shown.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
                chown_dir(child, id, &shown)?;
            }
            // Swapped for a symlink or removed since it was listed: it is
            // not ours to follow.
            Err(nix::Error::ELOOP | nix::Error::ENOTDIR | nix::Error::ENOENT) => {}
            Err(e) => return Err(fail("enter a folder in", e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(spec: &str) -> String {
        Mount::parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn parses_paths_volumes_and_options() {
        let m = Mount::parse("/srv/data:/data").unwrap();
        assert_eq!(
            (
                m.host_path.as_str(),
                m.container_path.as_str(),
                m.volume_options.as_str()
            ),
            ("/srv/data", "/data", "")
        );
        assert_eq!(m.phases, ["deploy", "run"]);
        assert_eq!(m.spec(), "/srv/data:/data");
        let v = Mount::parse("cache-demo:/cache:ro,z").unwrap();
        assert!(v.is_volume());
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
    fn records_round_trip_as_json_lines() {
        let m = Mount::parse("/srv/x:/x:ro").unwrap();
        let line = serde_json::to_string(&m).unwrap();
        assert_eq!(
            line,
            r#"{"host_path":"/srv/x","container_path":"/x","volume_options":"ro","phases":["deploy","run"],"process_type":"_default_"}"#
        );
        assert_eq!(serde_json::from_str::<Mount>(&line).unwrap(), m);
    }

    #[test]
    fn report_flags_are_docker_flags_per_phase() {
        let mounts = vec![
            Mount::parse("/a:/a").unwrap(),
            Mount::parse("vol:/b:ro").unwrap(),
        ];
        assert_eq!(docker_flags(&mounts, "deploy"), "-v /a:/a -v vol:/b:ro");
        assert_eq!(docker_flags(&mounts, "build"), "");
    }

    #[test]
    fn chown_presets() {
        assert_eq!(chown_id("herokuish").unwrap(), Some(32767));
        assert_eq!(chown_id("heroku").unwrap(), Some(1000));
        assert_eq!(chown_id("paketo").unwrap(), Some(2000));
        assert_eq!(chown_id("packeto").unwrap(), Some(2000));
        assert_eq!(chown_id("root").unwrap(), Some(0));
        assert_eq!(chown_id("false").unwrap(), None);
        assert_eq!(chown_id("1234").unwrap(), Some(1234));
        for bad in ["nobody", "-1", "", "99999999999"] {
            assert_eq!(
                chown_id(bad).unwrap_err().to_string(),
                "Unsupported chown permissions"
            );
        }
    }

    #[test]
    fn directory_names() {
        assert!(is_directory_name("my-app_data.1"));
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(!is_directory_name(bad), "{bad}");
        }
    }
}
