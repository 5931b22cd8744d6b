//! Dokku's `00_dokku-standard`: `help`, `version`, `url` and `urls`.

use crate::DOKKU_VERSION;
use crate::args::{AppArg, NoArgs};
use crate::context::Context;
use crate::error::Result;
use crate::plugins::{Command, Plugin};

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
    crate::help::print_help(ctx, args.all)
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
