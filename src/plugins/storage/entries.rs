//! The entry commands: `storage:create`, `storage:destroy`, `storage:info`,
//! `storage:list-entries`, `storage:set` and `storage:wait`, for the
//! docker-local scheduler (berth's only one). Every check runs before the
//! first write.

use std::path::Path;

use super::entry::{self, DOCKER_LOCAL, Entry};
use super::{Foreign, attachment, check_entry_access, check_entry_path, host_dir, lock};
use crate::context::Context;
use crate::error::{Error, Result};

/// The properties `storage:set` knows, in Dokku's table order.
const PROPERTIES: &[&str] = &[
    "chown",
    "mode",
    "namespace",
    "reclaim-policy",
    "size",
    "access-mode",
    "storage-class-name",
];

/// `storage:create <name> [<path>] [flags]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct CreateArgs {
    name: Option<String>,
    path: Option<String>,
    #[arg(long)]
    scheduler: Option<String>,
    #[arg(long)]
    chown: Option<String>,
    #[arg(long)]
    mode: Option<String>,
    #[arg(long)]
    reclaim_policy: Option<String>,
    /// `key=value`, repeatable.
    #[arg(long)]
    annotation: Vec<String>,
    /// `key=value`, repeatable.
    #[arg(long)]
    label: Vec<String>,
    #[arg(long)]
    size: Option<String>,
    #[arg(long)]
    access_mode: Option<String>,
    #[arg(long)]
    storage_class_name: Option<String>,
    #[arg(long)]
    namespace: Option<String>,
}

/// berth schedules on docker-local only: a k3s entry is refused, never
/// half made.
fn check_scheduler(scheduler: Option<&str>) -> Result<()> {
    match scheduler {
        None | Some(DOCKER_LOCAL) => Ok(()),
        Some("k3s") => Err(Error::fail(
            "berth schedules apps with docker-local only: k3s storage entries (--scheduler k3s) are not supported",
        )),
        Some(other) => Err(Error::fail(format!(
            "Invalid scheduler {other:?}: berth supports docker-local"
        ))),
    }
}

fn k3s_only(property: &str) -> Error {
    Error::fail(format!(
        "{property} applies to k3s storage entries only; berth's entries are docker-local"
    ))
}

/// `key=value` pairs of `--annotation`/`--label`.
fn pairs(flag: &str, values: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut map = std::collections::BTreeMap::new();
    for value in values {
        let Some((key, v)) = value.split_once('=') else {
            return Err(Error::fail(format!(
                "--{flag} needs key=value, got {value:?}"
            )));
        };
        if key.is_empty() || value.chars().any(char::is_control) {
            return Err(Error::fail(format!("Invalid --{flag} {value:?}")));
        }
        map.insert(key.to_string(), v.to_string());
    }
    Ok(map)
}

/// A custom `<path>`: absolute, clean, an existing folder, and (outside
/// the storage folder) only for an admin and never a place that hands the
/// host over.
fn check_custom_path(ctx: &Context, path: &str) -> Result<()> {
    if !path.starts_with('/')
        || attachment::has_parent_dir(path)
        || path.contains([':', ','])
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::fail(format!(
            "Invalid path {path:?}: specify an absolute host path without '..', ':', ',' or spaces"
        )));
    }
    if !host_dir::in_storage_dir(ctx, Path::new(path)) {
        host_dir::refuse_dangerous(ctx, Path::new(path))?;
        if !ctx.caller()?.is_admin() {
            return Err(Error::fail(format!(
                "Only an admin may register a path outside {}: use storage:create <name> without a path",
                entry::storage_dir(ctx).display()
            )));
        }
    }
    if !Path::new(path).is_dir() {
        return Err(Error::fail(format!(
            "Path {path} does not exist or is not a folder: create it first (berth never creates folders outside {})",
            entry::storage_dir(ctx).display()
        )));
    }
    Ok(())
}

/// Refuses `--chown`/`--mode` on an entry away from the default location.
fn refuse_outside_default(ctx: &Context, entry: &Entry, what: &str) -> Result<()> {
    if entry.at_default_location(ctx) {
        return Ok(());
    }
    Err(Error::fail(format!(
        "{what} only manages entries at the default location {}; {} is elsewhere, manage it yourself",
        entry::default_path(ctx, &entry.name).display(),
        entry.host_path
    )))
}

/// Makes the host folder match the entry: the default folder exists, with
/// the entry's owner and mode when set.
fn apply(ctx: &Context, entry: &Entry) -> Result<()> {
    if !entry.at_default_location(ctx) {
        return Ok(());
    }
    let dir = Path::new(&entry.host_path);
    crate::store::atomic::ensure_dir(dir)?;
    if !entry.chown.is_empty()
        && let Some(id) = host_dir::chown_id(&entry.chown)?
    {
        host_dir::chown_tree(dir, id)?;
    }
    if !entry.mode.is_empty() {
        host_dir::set_mode(dir, entry::check_mode(&entry.mode)?)?;
    }
    Ok(())
}

pub fn create(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: CreateArgs = crate::args::parse("storage:create", &args)?;
    let name = entry::name_arg(args.name.as_deref())?;
    check_scheduler(args.scheduler.as_deref())?;
    for (flag, value) in [
        ("--size", &args.size),
        ("--access-mode", &args.access_mode),
        ("--storage-class-name", &args.storage_class_name),
        ("--namespace", &args.namespace),
    ] {
        if value.is_some() {
            return Err(k3s_only(flag));
        }
    }
    if let Some(chown) = args.chown.as_deref() {
        host_dir::chown_id(chown)?;
    }
    if let Some(mode) = args.mode.as_deref() {
        entry::check_mode(mode)?;
    }
    if let Some(policy) = args.reclaim_policy.as_deref() {
        entry::check_reclaim_policy(policy)?;
    }
    let annotations = pairs("annotation", &args.annotation)?;
    let labels = pairs("label", &args.label)?;
    let host_path = match args.path.as_deref() {
        Some(path) => {
            check_custom_path(ctx, path)?;
            path.to_string()
        }
        None => entry::default_path(ctx, &name).display().to_string(),
    };

    let _lock = lock(ctx)?;
    let existing = entry::load(ctx, &name)?;
    // Before anything about the entry is shown or changed: re-running
    // create rewrites its owner and mode.
    match &existing {
        Some(existing) => check_entry_path(ctx, "storage:create", existing)?,
        None => check_entry_path(
            ctx,
            "storage:create",
            &Entry {
                name: name.clone(),
                host_path: host_path.clone(),
                ..Default::default()
            },
        )?,
    }
    if let Some(existing) = &existing
        && existing.host_path != host_path
    {
        return Err(Error::fail(format!(
            "Storage entry {name} already exists with host path {}",
            existing.host_path
        )));
    }
    let mut new = existing.clone().unwrap_or_else(|| Entry {
        name: name.clone(),
        scheduler: DOCKER_LOCAL.to_string(),
        host_path,
        ..Default::default()
    });
    if let Some(chown) = args.chown {
        new.chown = chown;
    }
    if let Some(mode) = args.mode {
        new.mode = mode;
    }
    if let Some(policy) = args.reclaim_policy {
        new.reclaim_policy = policy;
    }
    if !annotations.is_empty() {
        new.annotations = annotations;
    }
    if !labels.is_empty() {
        new.labels = labels;
    }
    if !new.chown.is_empty() {
        refuse_outside_default(ctx, &new, "--chown")?;
    }
    if !new.mode.is_empty() {
        refuse_outside_default(ctx, &new, "--mode")?;
    }
    apply(ctx, &new)?;
    entry::save(ctx, &new)?;
    let verb = if existing.is_some() {
        "updated"
    } else {
        "created"
    };
    ctx.out.info1(format!("Storage entry {name} {verb}"))
}

/// `storage:destroy <name> [--force] [--destroy-host-dir]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct DestroyArgs {
    name: Option<String>,
    #[arg(long)]
    force: bool,
    #[arg(long)]
    destroy_host_dir: bool,
}

fn refuse_mounted(
    name: &str,
    users: &[(crate::app_name::AppName, attachment::Attachment)],
) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let mut apps: Vec<String> = users.iter().map(|(app, _)| app.to_string()).collect();
    apps.dedup();
    Err(Error::fail(format!(
        "Storage entry {name} is still mounted by {}: unmount it from every app first (storage:unmount <app> {name})",
        apps.join(", ")
    )))
}

pub fn destroy(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: DestroyArgs = crate::args::parse("storage:destroy", &args)?;
    let name = entry::name_arg(args.name.as_deref())?;
    let found = entry::require(ctx, &name)?;
    refuse_mounted(&name, &check_entry_access(ctx, "storage:destroy", &name)?)?;
    check_entry_path(ctx, "storage:destroy", &found)?;
    if args.destroy_host_dir && (found.is_volume() || !found.at_default_location(ctx)) {
        return Err(Error::fail(format!(
            "--destroy-host-dir only removes entries at the default location {}; remove {} yourself",
            entry::default_path(ctx, &name).display(),
            found.host_path
        )));
    }
    let delete_policy = found.computed_reclaim_policy() == "Delete";
    let remove_dir = args.destroy_host_dir || (delete_policy && found.at_default_location(ctx));
    if delete_policy && !found.at_default_location(ctx) {
        ctx.out.warn(format!(
            "Storage entry {name} has reclaim policy Delete, but {} is not at the default location: it is kept",
            found.host_path
        ))?;
    }
    if remove_dir {
        ctx.out.warn(format!(
            "Storage entry {name} is backed by {}, which will be removed along with its contents.",
            found.host_path
        ))?;
    }
    if !(args.force || ctx.flags.force) {
        ctx.out.confirm(&format!("storage entry {name}"), &name)?;
    }
    let _lock = lock(ctx)?;
    refuse_mounted(&name, &attachment::users(ctx, &name)?)?;
    check_entry_path(ctx, "storage:destroy", &found)?;
    entry::remove(ctx, &name)?;
    if remove_dir {
        let dir = Path::new(&found.host_path);
        // std's remove_dir_all removes links, never what they point to.
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::fail(format!(
                    "Storage entry {name} was removed, but not {}: {e}",
                    dir.display()
                )));
            }
        }
    }
    ctx.out.info1(format!("Storage entry {name} destroyed"))
}

/// `<name> [--format text|json]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct InfoArgs {
    name: Option<String>,
    #[arg(long)]
    format: Option<String>,
}

fn check_format(format: Option<&str>) -> Result<bool> {
    match format {
        None | Some("text") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(Error::fail(format!(
            "Invalid --format value specified: {other} (valid: json, text)"
        ))),
    }
}

pub fn info(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: InfoArgs = crate::args::parse("storage:info", &args)?;
    let json = check_format(args.format.as_deref())?;
    let name = entry::name_arg(args.name.as_deref())?;
    let found = entry::require(ctx, &name)?;
    if !Foreign::load(ctx)?.may_use(&found) {
        // As if it were not there: a `user` key learns nothing of the
        // storage of apps it may not use.
        return Err(entry::missing(&name));
    }
    if json {
        return ctx
            .out
            .line(serde_json::to_string_pretty(&found).expect("an entry serialises"));
    }
    let mut apps: Vec<String> = attachment::users(ctx, &name)?
        .into_iter()
        .map(|(app, a)| format!("{app}:{}", a.container_path))
        .collect();
    apps.dedup();
    let mut rows = vec![
        ("Scheduler", found.scheduler.clone()),
        ("Host path", found.host_path.clone()),
    ];
    for (label, value) in [
        ("Chown", &found.chown),
        ("Mode", &found.mode),
        ("Reclaim policy", &found.reclaim_policy),
    ] {
        if !value.is_empty() {
            rows.push((label, value.clone()));
        }
    }
    for (label, map) in [("Annotation", &found.annotations), ("Label", &found.labels)] {
        for (key, value) in map {
            rows.push((label, format!("{key}={value}")));
        }
    }
    if !apps.is_empty() {
        rows.push(("Mounted by", apps.join(", ")));
    }
    ctx.out.info1(format!("Storage entry {name}"))?;
    for (label, value) in rows {
        let label = format!("{label}:");
        ctx.out.verbose(format!("{label:<18}{value}"))?;
    }
    Ok(())
}

/// `[--scheduler s] [--format text|json]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ListEntriesArgs {
    #[arg(long)]
    scheduler: Option<String>,
    #[arg(long)]
    format: Option<String>,
}

pub fn list_entries(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ListEntriesArgs = crate::args::parse("storage:list-entries", &args)?;
    let json = check_format(args.format.as_deref())?;
    let foreign = Foreign::load(ctx)?;
    let entries: Vec<Entry> = entry::all(ctx)?
        .into_iter()
        .filter(|e| args.scheduler.as_ref().is_none_or(|s| *s == e.scheduler))
        .filter(|e| foreign.may_use(e))
        .collect();
    if json {
        return ctx
            .out
            .line(serde_json::to_string_pretty(&entries).expect("entries serialise"));
    }
    ctx.out.info2("Storage entries")?;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| vec![e.name.clone(), e.scheduler.clone(), e.host_path.clone()])
        .collect();
    for line in crate::output::columns(&rows) {
        ctx.out.verbose(line)?;
    }
    Ok(())
}

pub fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let mut words = args.into_iter();
    let name = entry::name_arg(words.next().as_deref())?;
    let mut property = words
        .next()
        .ok_or_else(|| Error::fail("No property specified"))?;
    let value = words.collect::<Vec<_>>().join(" ");
    if let Some(flag) = property.strip_prefix("--") {
        // The flag form of before 0.38.27 still works, and warns.
        property = flag.to_string();
        ctx.out.warn(format!(
            "storage:set {name} --{property} is deprecated: use storage:set {name} {property} [<value>]"
        ))?;
    }
    if !PROPERTIES.contains(&property.as_str()) {
        return Err(crate::property_set::invalid_property(
            PROPERTIES.iter().copied(),
        ));
    }
    let _lock = lock(ctx)?;
    let mut found = entry::require(ctx, &name)?;
    check_entry_access(ctx, "storage:set", &name)?;
    check_entry_path(ctx, "storage:set", &found)?;
    match property.as_str() {
        "access-mode" | "storage-class-name" => {
            return Err(Error::fail(format!(
                "storage:set cannot change {property} in place; recreate the entry"
            )));
        }
        "namespace" | "size" => return Err(k3s_only(&property)),
        "chown" => {
            if !value.is_empty() {
                host_dir::chown_id(&value)?;
                refuse_outside_default(ctx, &found, "chown")?;
            }
            found.chown = value.clone();
        }
        "mode" => {
            if !value.is_empty() {
                entry::check_mode(&value)?;
                refuse_outside_default(ctx, &found, "mode")?;
            }
            found.mode = value.clone();
        }
        _ => {
            if !value.is_empty() {
                entry::check_reclaim_policy(&value)?;
            }
            found.reclaim_policy = value.clone();
        }
    }
    if value.is_empty() {
        ctx.out.info2(format!("Unsetting {property}"))?;
    } else {
        ctx.out.info2(format!("Setting {property} to {value}"))?;
    }
    apply(ctx, &found)?;
    entry::save(ctx, &found)
}

/// `storage:wait <name>`: a docker-local entry is a folder, ready as soon
/// as it exists, so this returns at once, as Dokku does for non-k3s
/// entries.
pub fn wait(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: InfoArgs = crate::args::parse("storage:wait", &args)?;
    if args.format.is_some() {
        return Err(Error::fail("Invalid flag passed: --format"));
    }
    let name = entry::name_arg(args.name.as_deref())?;
    entry::require(ctx, &name).map(drop)
}
