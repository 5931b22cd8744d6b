//! `storage:exec <name> [-- <cmd>...]`: a temporary container that mounts
//! the entry at `/data`, attached to berth's stdio (a shell when no command
//! is given), removed when it ends; its exit code is the command's.
//!
//! The container is made through the engine API only; the entry's folder
//! reaches it as a [`crate::host_path::HostPath`] (translated in container
//! mode like every bind). It has no network, and runs as the entry's
//! `chown` owner when the entry has one (root otherwise, as Dokku's
//! docker-local handler does).

use std::io::IsTerminal;
use std::path::Path;

use super::{check_entry_access, check_entry_path, check_host_path, entry, host_dir};
use crate::context::Context;
use crate::engine::Engine;
use crate::engine::models::{ContainerCreateBody, HostConfig};
use crate::error::{Error, Result};
use crate::host_path::to_host_path;

/// The image of the temporary container: berth's base image, always
/// present on a berth host (nothing is pulled).
pub const IMAGE: &str = "debian:bookworm-slim";
/// Where the entry appears inside the container.
pub const MOUNT_POINT: &str = "/data";

pub fn exec(ctx: &Context, args: Vec<String>) -> Result<()> {
    let mut words = args.into_iter();
    let name = entry::name_arg(words.next().as_deref())?;
    let mut command: Vec<String> = words.collect();
    match command.first().map(String::as_str) {
        Some("--") => {
            command.remove(0);
        }
        Some(other) => {
            return Err(Error::fail(format!(
                "Unexpected argument: {other} (put the command after --: storage:exec {name} -- <cmd>...)"
            )));
        }
        None => {}
    }
    let found = entry::require(ctx, &name)?;
    check_entry_access(ctx, "storage:exec", &name)?;
    check_entry_path(ctx, "storage:exec", &found)?;
    let source = if found.is_volume() {
        found.host_path.clone()
    } else {
        let path = Path::new(&found.host_path);
        // A shell over a folder outside the storage folder is the admin's
        // call, as mounting it into an app is (`storage:mount`).
        if !host_dir::in_storage_dir(ctx, path) {
            host_dir::refuse_dangerous(ctx, path)?;
            if !ctx.caller()?.is_admin() {
                check_host_path(ctx, path)?;
            }
        }
        to_host_path(&ctx.store, path)?.to_engine()?
    };
    let user = match found.chown.as_str() {
        "" => None,
        preset => host_dir::chown_id(preset)?.map(|id| format!("{id}:{id}")),
    };
    let tty = std::io::stdin().is_terminal();
    let cmd = if command.is_empty() {
        vec!["/bin/bash".to_string()]
    } else {
        command
    };
    let body = ContainerCreateBody {
        image: Some(IMAGE.to_string()),
        cmd: Some(cmd),
        user,
        working_dir: Some(MOUNT_POINT.to_string()),
        labels: Some(std::collections::HashMap::from([(
            "com.dokku.storage-entry".to_string(),
            name.clone(),
        )])),
        tty: Some(tty),
        open_stdin: Some(true),
        stdin_once: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{source}:{MOUNT_POINT}")]),
            network_mode: Some("none".to_string()),
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let engine = Engine::connect()?;
    if engine.image(IMAGE)?.is_none() {
        return Err(Error::fail(format!(
            "storage:exec needs the image {IMAGE}, which the engine does not have: load or pull it first"
        )));
    }
    let suffix = format!(
        "{:x}",
        std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default()
    );
    let id = engine.create_container(&format!("storage-exec-{name}-{suffix}"), body)?;
    let result = engine.run_attached(&id, tty);
    engine.remove_container(&id)?;
    match result? {
        0 => Ok(()),
        code => Err(Error::Silent(code.clamp(1, 255) as i32)),
    }
}
