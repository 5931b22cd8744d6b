//! `storage:mount` and `storage:unmount`: an app's attachments to named
//! entries (`<app> <name> --container-dir P [flags]`) and the colon form
//! (`<app> /host:/ctr[:opts]`, an attachment to a `legacy-<hash>` entry).
//! Every check runs before the first write, under the storage lock.

use std::path::Path;

use super::attachment::{self, Attachment, Legacy};
use super::{
    check_entry_access, check_entry_path, check_host_path, check_path_access, entry, host_dir, lock,
};
use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::Scope;

/// `storage:mount|unmount <app> <name|spec> [flags]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct MountArgs {
    app: Option<String>,
    mount: Option<String>,
    #[arg(long)]
    container_dir: Option<String>,
    /// `deploy` or `run`, repeatable (default both).
    #[arg(long)]
    phase: Vec<String>,
    #[arg(long)]
    process_type: Option<String>,
    #[arg(long)]
    volume_subpath: Option<String>,
    #[arg(long)]
    volume_readonly: bool,
    #[arg(long)]
    volume_chown: Option<String>,
    #[arg(long)]
    volume_options: Option<String>,
}

impl MountArgs {
    fn has_named_flags(&self) -> bool {
        self.container_dir.is_some()
            || !self.phase.is_empty()
            || self.process_type.is_some()
            || self.volume_subpath.is_some()
            || self.volume_readonly
            || self.volume_chown.is_some()
            || self.volume_options.is_some()
    }
}

/// What the second word names: a colon-form mount, or an entry.
enum Target {
    Legacy(Legacy),
    Named(String),
}

fn parse_mount(
    ctx: &Context,
    command: &str,
    args: &[String],
) -> Result<(AppName, MountArgs, Target)> {
    let args: MountArgs = crate::args::parse(command, args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let spec = args
        .mount
        .clone()
        .ok_or_else(|| Error::fail("Please specify a mount path"))?;
    let target = if spec.contains(':') || spec.starts_with('/') {
        if args.has_named_flags() {
            return Err(Error::fail(
                "The colon form host-dir:container-dir takes no flags: create a named entry (storage:create) to mount with --container-dir and its flags",
            ));
        }
        Target::Legacy(Legacy::parse(&spec)?)
    } else {
        entry::check_name(&spec)?;
        Target::Named(spec)
    };
    Ok((app, args, target))
}

pub fn mount(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, args, target) = parse_mount(ctx, "storage:mount", &args)?;
    match target {
        Target::Legacy(legacy) => mount_legacy(ctx, &app, legacy),
        Target::Named(name) => mount_named(ctx, &app, &name, args),
    }
}

fn mount_legacy(ctx: &Context, app: &AppName, new: Legacy) -> Result<()> {
    if new.source.starts_with('/') {
        check_host_path(ctx, Path::new(&new.source))?;
    }
    let _lock = lock(ctx)?;
    check_path_access(ctx, "storage:mount", &new.source)?;
    let _app_lock = ctx.store.lock(&Scope::App(app.clone()))?;
    let mut attachments = attachment::read(ctx, app)?;
    for a in &attachments {
        if a.entry_name == new.attachment.entry_name
            && a.container_path == new.attachment.container_path
            && a.mode() == new.attachment.mode()
            && a.subpath.is_empty()
        {
            return Err(Error::fail("Mount path already exists."));
        }
    }
    refuse_collision(ctx, &attachments, &new.attachment)?;
    let existing = entry::load(ctx, &new.attachment.entry_name)?;
    if let Some(existing) = &existing
        && existing.host_path != new.source
    {
        return Err(Error::fail(format!(
            "Storage entry {} already exists for {}, not {}",
            existing.name, existing.host_path, new.source
        )));
    }
    if existing.is_none() {
        entry::save(
            ctx,
            &attachment::legacy_entry(&new.attachment.entry_name, &new.source),
        )?;
    }
    attachments.push(new.attachment);
    attachment::write(ctx, app, &attachments)
}

/// Docker refuses two mounts at one container path: refuse it now rather
/// than at the next deploy.
fn refuse_collision(ctx: &Context, attachments: &[Attachment], new: &Attachment) -> Result<()> {
    if let Some(taken) = attachments.iter().find(|a| a.collides_with(new)) {
        let source = attachment::source(ctx, taken).unwrap_or_default();
        return Err(Error::fail(format!(
            "Container path {} is already mounted ({}); unmount it first.",
            new.container_path,
            taken.bind(&source)
        )));
    }
    Ok(())
}

fn mount_named(ctx: &Context, app: &AppName, name: &str, args: MountArgs) -> Result<()> {
    let container_dir = args.container_dir.ok_or_else(|| {
        Error::fail("Please specify a container directory with --container-dir <path>")
    })?;
    attachment::check_container_dir(&container_dir)?;
    let mut phases = Vec::new();
    for phase in args.phase.iter().flat_map(|p| p.split(',')) {
        if !attachment::PHASES.contains(&phase) {
            return Err(Error::fail(format!(
                "Invalid phase {phase:?}: valid phases are deploy and run (mounts never apply to builds)"
            )));
        }
        if !phases.iter().any(|p| p == phase) {
            phases.push(phase.to_string());
        }
    }
    if phases.is_empty() {
        phases = attachment::PHASES.iter().map(|p| p.to_string()).collect();
    }
    let process_type = args
        .process_type
        .unwrap_or_else(|| attachment::DEFAULT_PROCESS.to_string());
    if process_type != attachment::DEFAULT_PROCESS && !crate::procfile::is_valid_type(&process_type)
    {
        return Err(Error::fail(format!(
            "Invalid process type {process_type:?}"
        )));
    }
    let subpath = args.volume_subpath.unwrap_or_default();
    if !subpath.is_empty() {
        attachment::check_subpath(&subpath)?;
    }
    let mut readonly = args.volume_readonly;
    let mut options = Vec::new();
    if let Some(given) = args.volume_options.as_deref().filter(|o| !o.is_empty()) {
        attachment::check_options(given)?;
        for option in given.split(',') {
            if option == "ro" {
                readonly = true;
            } else {
                options.push(option);
            }
        }
    }
    let volume_chown = args.volume_chown.unwrap_or_default();
    let chown = match volume_chown.as_str() {
        "" => None,
        preset => host_dir::chown_id(preset)?,
    };

    let _lock = lock(ctx)?;
    let entry = entry::require(ctx, name)?;
    check_entry_access(ctx, "storage:mount", name)?;
    check_entry_path(ctx, "storage:mount", &entry)?;
    if entry.is_volume() && !subpath.is_empty() {
        return Err(Error::fail(format!(
            "Storage entry {name} is a docker volume: --volume-subpath needs a host folder"
        )));
    }
    if !entry.is_volume() && !host_dir::in_storage_dir(ctx, Path::new(&entry.host_path)) {
        // The entry was vetted when it was created; mounting it into an
        // app is still the admin's call, as for a colon-form host folder.
        if !ctx.caller()?.is_admin() {
            check_host_path(ctx, Path::new(&entry.host_path))?;
        }
    }
    if chown.is_some() && !entry.at_default_location(ctx) {
        return Err(Error::fail(format!(
            "--volume-chown only manages entries at the default location {}; chown {} yourself",
            entry::default_path(ctx, name).display(),
            entry.host_path
        )));
    }
    let new = Attachment {
        entry_name: name.to_string(),
        container_path: container_dir.clone(),
        phases,
        process_type,
        subpath: subpath.clone(),
        readonly,
        volume_options: options.join(","),
        volume_chown,
        host_path: None,
    };
    let _app_lock = ctx.store.lock(&Scope::App(app.clone()))?;
    let mut attachments = attachment::read(ctx, app)?;
    // Re-mounting the entry at the same path for the same process type
    // rewrites the attachment in place (Dokku's idempotent form).
    let same = |a: &Attachment| {
        a.entry_name == new.entry_name
            && a.container_path == new.container_path
            && a.process_type == new.process_type
    };
    let others: Vec<Attachment> = attachments.iter().filter(|a| !same(a)).cloned().collect();
    refuse_collision(ctx, &others, &new)?;
    if entry.at_default_location(ctx) {
        let dir = Path::new(&entry.host_path).join(&subpath);
        crate::store::atomic::ensure_dir(&dir)?;
        if let Some(id) = chown {
            host_dir::chown_tree(&dir, id)?;
        }
    }
    match attachments.iter_mut().find(|a| same(a)) {
        Some(slot) => *slot = new,
        None => attachments.push(new),
    }
    attachment::write(ctx, app, &attachments)?;
    ctx.out.info1(format!(
        "Storage entry {name} mounted at {container_dir} on {app}"
    ))
}

pub fn unmount(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, args, target) = parse_mount(ctx, "storage:unmount", &args)?;
    if let Target::Named(_) = target
        && (!args.phase.is_empty()
            || args.volume_subpath.is_some()
            || args.volume_readonly
            || args.volume_chown.is_some()
            || args.volume_options.is_some())
    {
        return Err(Error::fail(
            "storage:unmount takes --container-dir (and --process-type) only",
        ));
    }
    let _lock = lock(ctx)?;
    let _app_lock = ctx.store.lock(&Scope::App(app.clone()))?;
    let mut attachments = attachment::read(ctx, &app)?;
    let before = attachments.len();
    match &target {
        Target::Legacy(old) => attachments.retain(|a| {
            !(a.entry_name == old.attachment.entry_name
                && a.container_path == old.attachment.container_path
                && a.subpath.is_empty()
                && a.mode() == old.attachment.mode())
        }),
        Target::Named(name) => attachments.retain(|a| {
            !(a.entry_name == *name
                && args
                    .container_dir
                    .as_ref()
                    .is_none_or(|dir| *dir == a.container_path)
                && args
                    .process_type
                    .as_ref()
                    .is_none_or(|p| *p == a.process_type))
        }),
    }
    if attachments.len() == before {
        return Err(match &target {
            Target::Legacy(_) => Error::fail("Mount path does not exist."),
            Target::Named(name) => Error::fail(format!(
                "Storage entry {name} is not mounted on {app}{}",
                args.container_dir
                    .as_ref()
                    .map(|d| format!(" at {d}"))
                    .unwrap_or_default()
            )),
        });
    }
    attachment::write(ctx, &app, &attachments)?;
    if let Target::Named(name) = &target {
        ctx.out
            .info1(format!("Storage entry {name} unmounted from {app}"))?;
    }
    Ok(())
}
