//! berth's core plugins, one module per Dokku plugin, and the shape they
//! share.
//!
//! A [`Plugin`] owns its commands (`apps:create`, ...), the properties it
//! stores under `config/<plugin>/`, and the triggers it answers. Plugins talk
//! to each other through triggers and the store, never by calling into each
//! other's modules.

pub mod acl;
pub mod app_json;
pub mod apps;
pub mod builder;
pub mod builds;
pub mod certs;
pub mod checks;
pub mod config;
pub mod cron;
pub mod docker_options;
pub mod domains;
pub mod events;
pub mod git;
pub mod letsencrypt;
pub mod logs;
pub mod network;
pub mod nginx_vhosts;
pub mod plugin;
pub mod ports;
pub mod proxy;
pub mod ps;
pub mod releases;
pub mod repo;
pub mod resource;
pub mod run;
pub mod scheduler;
pub mod scheduler_docker_local;
pub mod ssh_keys;
pub mod standard;
pub mod storage;

use crate::context::Context;
use crate::error::Result;
use crate::trigger::Handler;

/// What runs a command: the context and the arguments after the command name.
pub type Run = fn(&Context, Vec<String>) -> Result<()>;

pub struct Command {
    /// The full name, as typed: `apps:create`.
    pub name: &'static str,
    /// The arguments, as help shows them: `<app>`.
    pub usage: &'static str,
    pub description: &'static str,
    pub run: Run,
}

pub struct Plugin {
    /// Dokku's plugin name: `apps`, `config`, `nginx-vhosts`.
    pub name: &'static str,
    pub description: &'static str,
    /// What the bare plugin name runs (`dokku apps` is `apps:list`); without
    /// one, the bare name prints the plugin's help.
    pub default_command: Option<&'static str>,
    pub commands: &'static [Command],
    pub triggers: &'static [(&'static str, Handler)],
}

/// The core plugins, sorted by name (the order triggers visit them).
pub static CORE: &[&Plugin] = &[
    &standard::PLUGIN,
    &acl::PLUGIN,
    &app_json::PLUGIN,
    &apps::PLUGIN,
    &builder::PLUGIN,
    &builder::DOCKERFILE,
    &builder::AUTO,
    &builds::PLUGIN,
    &certs::PLUGIN,
    &checks::PLUGIN,
    &config::PLUGIN,
    &cron::PLUGIN,
    &docker_options::PLUGIN,
    &domains::PLUGIN,
    &run::ENTER,
    &events::PLUGIN,
    &git::PLUGIN,
    &letsencrypt::PLUGIN,
    &logs::PLUGIN,
    &network::PLUGIN,
    &nginx_vhosts::PLUGIN,
    &plugin::PLUGIN,
    &ports::PLUGIN,
    &proxy::PLUGIN,
    &ps::PLUGIN,
    &releases::PLUGIN,
    &repo::PLUGIN,
    &resource::PLUGIN,
    &run::RUN,
    &scheduler::PLUGIN,
    &scheduler_docker_local::PLUGIN,
    &ssh_keys::PLUGIN,
    &storage::PLUGIN,
    &standard::TRACE,
];

pub fn find_plugin(name: &str) -> Option<&'static Plugin> {
    CORE.iter().copied().find(|p| p.name == name)
}

/// A plugin's command by its full name, or one of the internal ones git
/// runs (`git-receive-pack`, `git-hook`), which help does not list. The
/// platform's own commands are in [`crate::commands`].
pub fn find_command(name: &str) -> Option<&'static Command> {
    CORE.iter()
        .flat_map(|p| p.commands.iter())
        .chain(git::INTERNAL.iter())
        .find(|c| c.name == name)
}
