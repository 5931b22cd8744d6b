//! Dokku's `storage` plugin (0.38): named storage entries
//! (`storage:create/destroy/info/list-entries/set/wait/exec`, in
//! [`entries`] and [`exec`]), their attachments to apps (`storage:mount
//! <app> <name> --container-dir P`, and the colon form `storage:mount <app>
//! /host:/ctr[:opts]`, which attaches the app to a `legacy-<hash>` entry),
//! `storage:list`, `storage:report` and the deprecated
//! `storage:ensure-directory`.
//!
//! State: entries at `config/storage/entries/<name>.json` ([`entry`]),
//! attachments at `config/storage/<app>/mounts` ([`attachment`]), both as
//! Dokku writes them; every storage write holds one lock, so no mount can
//! slip in while an entry is destroyed. Attachments apply to the `deploy`
//! and `run` phases (never builds). Trigger `storage-app-mounts APP PHASE
//! [PROCESS]` answers one `HOST:CONTAINER[:opts]` bind per line: the
//! container-spec builder (`container_spec`) parses them as `-v` values and
//! translates the host paths. Changes take effect on the next deploy or
//! restart, as in Dokku.

mod attachment;
mod entries;
mod entry;
mod exec;
mod foreign;
mod host_dir;
mod metadata;
mod mounts;

use serde::Serialize;

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::report::{self, ReportSpec, Rows};
use crate::store::{LockGuard, Scope};
use attachment::Attachment;
use foreign::{Foreign, check_entry_path, check_path_access};
pub use host_dir::check_host_path;

pub static PLUGIN: Plugin = Plugin {
    name: "storage",
    description: "Manage mounted volumes",
    default_command: None,
    commands: &[
        Command {
            name: "storage:annotations:report",
            usage: "[<name>] [<flag>]",
            description: "Display annotations for one or more storage entries",
            run: metadata::annotations_report,
        },
        Command {
            name: "storage:annotations:set",
            usage: "<name> <key> [<value>]",
            description: "Set or clear a single annotation on a storage entry",
            run: metadata::annotations_set,
        },
        Command {
            name: "storage:create",
            usage: "<name> [<path>] [flags]",
            description: "Register a named storage entry",
            run: entries::create,
        },
        Command {
            name: "storage:destroy",
            usage: "<name> [--force] [--destroy-host-dir]",
            description: "Remove a named storage entry (must be unmounted from every app first)",
            run: entries::destroy,
        },
        Command {
            name: "storage:ensure-directory",
            usage: "[--chown option] <directory>",
            description: "[DEPRECATED] use storage:create instead",
            run: ensure_directory,
        },
        Command {
            name: "storage:exec",
            usage: "<name> [-- <cmd>...]",
            description: "Run a command (or shell) in a temporary container that mounts the entry",
            run: exec::exec,
        },
        Command {
            name: "storage:info",
            usage: "<name> [--format text|json]",
            description: "Show details for one storage entry",
            run: entries::info,
        },
        Command {
            name: "storage:labels:report",
            usage: "[<name>] [<flag>]",
            description: "Display labels for one or more storage entries",
            run: metadata::labels_report,
        },
        Command {
            name: "storage:labels:set",
            usage: "<name> <key> [<value>]",
            description: "Set or clear a single label on a storage entry",
            run: metadata::labels_set,
        },
        Command {
            name: "storage:list",
            usage: "<app> [--format text|json]",
            description: "List bind mounts for an app's container(s) (legacy host:container view)",
            run: list,
        },
        Command {
            name: "storage:list-entries",
            usage: "[--scheduler s] [--format text|json]",
            description: "List registered storage entries",
            run: entries::list_entries,
        },
        Command {
            name: "storage:mount",
            usage: "<app> <name> --container-dir <path> [flags]",
            description: "Mount a named entry into an app ([LEGACY] or <app> <host-dir:container-dir>)",
            run: mounts::mount,
        },
        Command {
            name: "storage:report",
            usage: "[<app>|--global] [<flag>]",
            description: "Display a storage report for one or more apps",
            run: report,
        },
        Command {
            name: "storage:set",
            usage: "<name> <property> [<value>]",
            description: "Update a storage entry in place",
            run: entries::set,
        },
        Command {
            name: "storage:unmount",
            usage: "<app> <name> [--container-dir <path>]",
            description: "Remove an attachment",
            run: mounts::unmount,
        },
        Command {
            name: "storage:wait",
            usage: "<name>",
            description: "Block until a k3s entry's PVC is bound",
            run: entries::wait,
        },
    ],
    triggers: &[("storage-app-mounts", app_mounts)],
};

/// The one lock of every storage write: entries and every app's
/// attachments change under it, so `storage:destroy`'s "still mounted"
/// check cannot race a mount.
fn lock(ctx: &Context) -> Result<LockGuard> {
    LockGuard::acquire(
        &ctx.store
            .data_dir("apps", &Scope::Global)
            .join(".storage.lock"),
    )
}

/// Refuses `command` on an entry that an app the caller may not use
/// mounts: entries are shared by the whole install, and a `user` key
/// limited by access lists must not reach another app's data through one.
/// Returns the entry's attachments.
fn check_entry_access(
    ctx: &Context,
    command: &str,
    name: &str,
) -> Result<Vec<(AppName, Attachment)>> {
    let users = attachment::users(ctx, name)?;
    let mut apps: Vec<AppName> = users.iter().map(|(app, _)| app.clone()).collect();
    apps.dedup();
    let usable = crate::access::usable_apps(ctx, apps.clone())?;
    if let Some(other) = apps.iter().find(|app| !usable.contains(app)) {
        return Err(Error::fail(format!(
            "You may not run {command} on storage entry {name}: it is mounted by {other}, an app you may not use"
        )));
    }
    Ok(users)
}

/// One line of `storage:list --format json`, as Dokku documents it.
#[derive(Serialize)]
struct Listed {
    entry_name: String,
    host_path: String,
    container_path: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    readonly: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    volume_options: String,
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let crate::args::ListArgs { app, format } = crate::args::parse("storage:list", &args)?;
    let format = format.unwrap_or_else(|| "text".to_string());
    if !matches!(format.as_str(), "text" | "json") {
        return Err(Error::fail(format!(
            "Invalid --format value specified: {format} (valid: json, text)"
        )));
    }
    let app = ctx.existing_app(app.as_deref())?;
    let attachments = attachment::read(ctx, &app)?;
    if format == "text" {
        ctx.out.info1(format!("{app} volume bind-mounts:"))?;
        for a in &attachments {
            ctx.out.verbose(a.bind(&attachment::source(ctx, a)?))?;
        }
        return Ok(());
    }
    let mut listed = Vec::new();
    for a in &attachments {
        let source = attachment::source(ctx, a)?;
        let host_path = if a.subpath.is_empty() {
            source
        } else {
            format!("{source}/{}", a.subpath)
        };
        listed.push(Listed {
            entry_name: a.entry_name.clone(),
            host_path,
            container_path: a.container_path.clone(),
            readonly: a.readonly,
            volume_options: a.volume_options.clone(),
        });
    }
    ctx.out
        .line(serde_json::to_string_pretty(&listed).expect("mounts serialise"))
}

/// `-v a:b -v c:d`: the phase's mounts as Dokku's report shows them.
fn docker_flags(binds: &[(Attachment, String)], phase: &str) -> String {
    binds
        .iter()
        .filter(|(a, _)| a.in_phase(phase))
        .map(|(_, bind)| format!("-v {bind}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The app's attachments with their `-v` values.
fn binds(ctx: &Context, app: &AppName) -> Result<Vec<(Attachment, String)>> {
    attachment::read(ctx, app)?
        .into_iter()
        .map(|a| {
            let bind = a.bind(&attachment::source(ctx, &a)?);
            Ok((a, bind))
        })
        .collect()
}

fn app_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let binds = binds(ctx, app)?;
    let mut rows: Rows = ["build", "deploy", "run"]
        .into_iter()
        .map(|phase| {
            (
                format!("--storage-{phase}-mounts"),
                docker_flags(&binds, phase),
            )
        })
        .collect();
    for (i, (a, _)) in binds.iter().enumerate() {
        let source = attachment::source(ctx, a)?;
        let field =
            |name: &str, value: String| (format!("--storage-attachment.{}.{name}", i + 1), value);
        rows.extend([
            field("container-path", a.container_path.clone()),
            field("entry-name", a.entry_name.clone()),
            field("host-path", source),
            field("phases", a.phases.join(",")),
            field("process-type", a.process_type.clone()),
            field("readonly", a.readonly.to_string()),
            field("subpath", a.subpath.clone()),
            field("volume-chown", a.volume_chown.clone()),
            field("volume-options", a.volume_options.clone()),
        ]);
    }
    Ok(rows)
}

/// `--global`: the install's entry inventory (for a `user` key, the
/// entries it may use).
fn global_rows(ctx: &Context) -> Result<Rows> {
    let foreign = Foreign::load(ctx)?;
    let entries: Vec<entry::Entry> = entry::all(ctx)?
        .into_iter()
        .filter(|e| foreign.may_use(e))
        .collect();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let mut rows: Rows = vec![("--storage-global-entries".to_string(), names.join(","))];
    for e in &entries {
        let mut apps: Vec<String> = attachment::users(ctx, &e.name)?
            .into_iter()
            .map(|(app, _)| app.to_string())
            .collect();
        apps.dedup();
        let field = |name: &str, value: String| {
            (format!("--storage-global-entry.{}.{name}", e.name), value)
        };
        rows.extend([
            field("host-path", e.host_path.clone()),
            field("mounted-by", apps.join(",")),
            field("scheduler", e.scheduler.clone()),
        ]);
    }
    Ok(rows)
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "storage:report",
        title: "storage",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => app_rows(ctx, app),
        report::Target::Global => global_rows(ctx),
    })
}

/// `storage-app-mounts APP PHASE [PROCESS]`: one bind per line (the
/// container-spec builder parses and translates every answer). Without a
/// process type every attachment of the phase answers; with one, those of
/// `_default_` and of that type.
fn app_mounts(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let phase = args.get(1).map_or("", String::as_str);
    let process = args.get(2).map(String::as_str).filter(|p| !p.is_empty());
    Ok(binds(ctx, &app)?
        .into_iter()
        .filter(|(a, _)| a.in_phase(phase) && a.for_process(process))
        .map(|(_, bind)| format!("{bind}\n"))
        .collect())
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
    let id = host_dir::chown_id(&chown)?;
    let path = ctx.store.lib_root().join("data/storage").join(&directory);
    let _lock = lock(ctx)?;
    check_path_access(ctx, "storage:ensure-directory", &path.display().to_string())?;
    ctx.out
        .warn("storage:ensure-directory is deprecated: use storage:create <name> instead")?;
    ctx.out
        .info1(format!("Ensuring {} exists", path.display()))?;
    crate::store::atomic::ensure_dir(&path)?;
    if let Some(id) = id {
        ctx.out
            .verbose_quiet(format!("Setting directory ownership to {id}:{id}"))?;
        host_dir::chown_tree(&path, id)?;
    }
    ctx.out.verbose_quiet("Directory ready for mounting")
}

#[cfg(test)]
mod tests {
    use super::*;
    use attachment::Legacy;

    #[test]
    fn report_flags_are_docker_flags_per_phase() {
        let a = Legacy::parse("/a:/a").unwrap();
        let b = Legacy::parse("vol:/b:ro").unwrap();
        let binds = vec![
            (a.attachment.clone(), a.spec()),
            (b.attachment.clone(), b.spec()),
        ];
        assert_eq!(docker_flags(&binds, "deploy"), "-v /a:/a -v vol:/b:ro");
        assert_eq!(docker_flags(&binds, "build"), "");
    }

    #[test]
    fn directory_names() {
        assert!(is_directory_name("my-app_data.1"));
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(!is_directory_name(bad), "{bad}");
        }
    }
}
