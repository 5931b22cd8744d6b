//! Dokku's `00_dokku-standard`: `help`, `version`, `url` and `urls`.

use crate::DOKKU_VERSION;
use crate::args::{AppArg, NoArgs};
use crate::context::Context;
use crate::error::Result;
use crate::output::columns;
use crate::plugins::{CORE, Command, Plugin};

pub static PLUGIN: Plugin = Plugin {
    name: "00_dokku-standard",
    description: "Print dokku's help and version",
    default_command: None,
    commands: &[
        Command {
            name: "help",
            usage: "",
            description: "Print the list of commands",
            run: help,
        },
        Command {
            name: "url",
            usage: "<app>",
            description: "Show the first URL for an application (compatibility)",
            run: url,
        },
        Command {
            name: "urls",
            usage: "<app>",
            description: "Show all URLs for an application",
            run: urls,
        },
        Command {
            name: "version",
            usage: "",
            description: "Print dokku's version",
            run: version,
        },
    ],
    triggers: &[],
};

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct HelpArgs {
    #[arg(long)]
    all: bool,
}

fn help(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: HelpArgs = crate::args::parse("help", &args)?;
    print_help(ctx, args.all)
}

/// `url <app>` / `urls <app>`: what the `domains-urls` trigger answers.
fn url(ctx: &Context, args: Vec<String>) -> Result<()> {
    print_urls(ctx, crate::args::parse("url", &args)?, "url")
}

fn urls(ctx: &Context, args: Vec<String>) -> Result<()> {
    print_urls(ctx, crate::args::parse("urls", &args)?, "urls")
}

fn print_urls(ctx: &Context, args: AppArg, kind: &str) -> Result<()> {
    let app = ctx.existing_app(args.app.as_deref())?;
    let found = ctx.fire("domains-urls", &[app.as_str(), kind])?;
    ctx.out.raw(found.as_bytes())
}

fn version(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<NoArgs>("version", &args)?;
    ctx.out.line(format!(
        "dokku version {DOKKU_VERSION} (berth {})",
        env!("CARGO_PKG_VERSION")
    ))
}

/// `dokku help`: one row per plugin (or, with `--all`, per command).
pub fn print_help(ctx: &Context, all: bool) -> Result<()> {
    ctx.out
        .line("Usage: dokku [--quiet|--trace|--force] COMMAND <app> [command-specific-options]")?;
    ctx.out.line("")?;
    ctx.out.line("Primary help options, type \"dokku COMMAND:help\" for more details, or dokku help --all to see all commands.")?;
    ctx.out.line("")?;
    ctx.out.line("Commands:")?;
    ctx.out.line("")?;
    let mut rows: Vec<Vec<String>> = if all {
        CORE.iter()
            .flat_map(|p| p.commands.iter())
            .map(command_row)
            .collect()
    } else {
        CORE.iter()
            .flat_map(|p| -> Vec<Vec<String>> {
                if p.name == PLUGIN.name {
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
