//! `dokku help` and `dokku <plugin>:help`: the core plugins' commands,
//! the platform's own (`server`), and the rows external plugins give.

use crate::commands;
use crate::context::Context;
use crate::error::Result;
use crate::output::columns;
use crate::plugins::{CORE, Command, Plugin, standard};

/// `dokku help`: one row per plugin (or, with `--all`, per command).
pub fn print_help(ctx: &Context, all: bool) -> Result<()> {
    ctx.out
        .line("Usage: dokku [--quiet|--trace|--force] COMMAND <app> [command-specific-options]")?;
    ctx.out.line("")?;
    ctx.out.line("Primary help options, type \"dokku COMMAND:help\" for more details, or dokku help --all to see all commands.")?;
    ctx.out.line("")?;
    ctx.out.line("Commands:")?;
    ctx.out.line("")?;
    let platform = commands::platform();
    let mut rows: Vec<Vec<String>> = if all {
        CORE.iter()
            .flat_map(|p| p.commands.iter())
            .chain(platform)
            .map(command_row)
            .collect()
    } else {
        CORE.iter()
            .flat_map(|p| -> Vec<Vec<String>> {
                if p.name == standard::PLUGIN.name {
                    p.commands
                        .iter()
                        .map(|c| vec![format!("    {}", c.name), c.description.to_string()])
                        .collect()
                } else if p.commands.is_empty() {
                    Vec::new()
                } else {
                    vec![vec![format!("    {}", p.name), p.description.to_string()]]
                }
            })
            .chain(platform.map(|c| vec![format!("    {}", c.name), c.description.to_string()]))
            .collect()
    };
    rows.sort();
    let mut community = crate::external::help_rows(ctx, all);
    community.sort();
    for line in columns(&rows) {
        ctx.out.line(line)?;
    }
    if !community.is_empty() {
        ctx.out.line("")?;
        ctx.out.line("Community plugin commands:")?;
        ctx.out.line("")?;
        for line in columns(&community) {
            ctx.out.line(line)?;
        }
    }
    Ok(())
}

/// `dokku <plugin>:help`.
pub fn print_plugin_help(ctx: &Context, plugin: &Plugin) -> Result<()> {
    ctx.out
        .line(format!("Usage: dokku {}[:COMMAND]", plugin.name))?;
    ctx.out.line("")?;
    ctx.out.line(plugin.description)?;
    ctx.out.line("")?;
    ctx.out.line("Additional commands:")?;
    let mut rows: Vec<Vec<String>> = plugin.commands.iter().map(command_row).collect();
    rows.sort();
    for line in columns(&rows) {
        ctx.out.line(line)?;
    }
    Ok(())
}

fn command_row(command: &Command) -> Vec<String> {
    let usage = if command.usage.is_empty() {
        format!("    {}", command.name)
    } else {
        format!("    {} {}", command.name, command.usage)
    };
    vec![usage, command.description.to_string()]
}
