//! Dokku's `00_dokku-standard`: `help`, `version`, `url`, `urls`,
//! `deploy`, `report`, `cleanup`; and Dokku's `trace` plugin
//! (`trace:on`/`trace:off`, the file `$DOKKU_ROOT/.dokkurc/DOKKU_TRACE`).

use std::collections::HashSet;
use std::path::PathBuf;

use crate::DOKKU_VERSION;
use crate::app_name::AppName;
use crate::args::{AppArg, NoArgs};
use crate::context::Context;
use crate::dynos;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::plugins::{CORE, Command, Plugin};
use crate::store::Store;

pub static PLUGIN: Plugin = Plugin {
    name: "00_dokku-standard",
    description: "Print dokku's help and version",
    default_command: None,
    commands: &[
        Command {
            name: "cleanup",
            usage: "[<app>]",
            description: "Cleans up exited containers and dangling images of dokku apps",
            run: cleanup,
        },
        Command {
            name: "deploy",
            usage: "<app> [<tag>] [<process-type>]",
            description: "Deploy an app's built image again",
            run: deploy,
        },
        Command {
            name: "help",
            usage: "",
            description: "Print the list of commands",
            run: help,
        },
        Command {
            name: "report",
            usage: "[<app>]",
            description: "Reports on the platform, then on one app or all of them, from every plugin",
            run: report,
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

/// Dokku's `trace` plugin.
pub static TRACE: Plugin = Plugin {
    name: "trace",
    description: "Enable or disable trace mode",
    default_command: None,
    commands: &[
        Command {
            name: "trace:off",
            usage: "",
            description: "Disables trace mode",
            run: trace_off,
        },
        Command {
            name: "trace:on",
            usage: "",
            description: "Enables trace mode",
            run: trace_on,
        },
    ],
    triggers: &[],
};

fn trace_file(store: &Store) -> PathBuf {
    store.dokku_root().join(".dokkurc/DOKKU_TRACE")
}

/// Whether `trace:on` is in force: its file says `DOKKU_TRACE=1`.
pub fn trace_is_on(store: &Store) -> bool {
    std::fs::read_to_string(trace_file(store))
        .ok()
        .and_then(|text| crate::dotenv::parse(&text).ok())
        .and_then(|env| env.get("DOKKU_TRACE").cloned())
        .is_some_and(|value| !value.is_empty() && value != "0")
}

fn trace_on(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<NoArgs>("trace:on", &args)?;
    ctx.out.info1("Enabling trace mode")?;
    let path = trace_file(&ctx.store);
    if let Some(dir) = path.parent() {
        crate::store::atomic::ensure_dir(dir)?;
    }
    crate::store::atomic::write_atomic(&path, b"export DOKKU_TRACE=1\n", 0o644)
}

fn trace_off(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<NoArgs>("trace:off", &args)?;
    ctx.out.info1("Disabling trace mode")?;
    crate::store::atomic::remove_file(&trace_file(&ctx.store)).map(|_| ())
}

/// `deploy <app> [<tag>] [<process-type>]`: the scheduler runs the image
/// `dokku/<app>:<tag>` (default `latest`) again, without a build, through
/// the zero-downtime path.
fn deploy(ctx: &Context, args: Vec<String>) -> Result<()> {
    let mut words = args.into_iter();
    let app = ctx.existing_app(words.next().as_deref())?;
    let tag = words.next().unwrap_or_else(|| "latest".into());
    let process = words.next().unwrap_or_default();
    if let Some(extra) = words.next() {
        return Err(Error::fail(format!("Unexpected argument: {extra}")));
    }
    if !is_image_tag(&tag) {
        return Err(Error::fail(format!("Invalid image tag {tag}")));
    }
    ctx.fire("deploy", &[app.as_str(), &tag, &process])?;
    Ok(())
}

/// `cleanup [<app>]`: exited containers and dangling images berth (or
/// Dokku) made — of one app when named. A container a dyno file names (a
/// stopped app, `ps:start` brings it back) is kept.
fn cleanup(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("cleanup", &args)?;
    let app = match args.app.as_deref() {
        Some(name) => Some(ctx.existing_app(Some(name))?),
        None => None,
    };
    let engine = Engine::connect()?;
    let mut recorded = HashSet::new();
    for app in ctx.store.apps()? {
        for dyno in dynos::dynos(&ctx.store, &app)? {
            recorded.extend(dynos::container_id(&ctx.store, &app, &dyno));
        }
    }
    // Everything labelled dokku, or (one app named, or a user key that
    // may use only some apps) app by app.
    let all = ctx.store.apps()?;
    let usable = crate::access::usable_apps(ctx, all.clone())?;
    let scopes: Vec<Vec<(&str, &str)>> = match &app {
        Some(app) => vec![vec![("com.dokku.app-name", app.as_str())]],
        None if usable.len() == all.len() => vec![vec![("dokku", "")]],
        None => usable
            .iter()
            .map(|app| vec![("com.dokku.app-name", app.as_str())])
            .collect(),
    };
    ctx.out.info1("Cleaning up...")?;
    let (mut containers, mut images) = (0, 0);
    for labels in &scopes {
        for summary in engine.containers(labels)? {
            let exited = summary
                .state
                .as_ref()
                .is_some_and(|s| matches!(s.to_string().as_str(), "exited" | "dead"));
            let Some(id) = summary.id else { continue };
            if exited && !recorded.contains(&id) {
                engine.remove_container(&id)?;
                containers += 1;
            }
        }
        for id in engine.dangling_images(labels)? {
            engine.remove_image(&id)?;
            images += 1;
        }
    }
    // Release images beyond each app's retention (the releases plugin
    // keeps what a retained release or a container uses).
    let apps = match app {
        Some(app) => vec![app],
        None => usable,
    };
    let mut released = 0;
    for app in &apps {
        released += ctx
            .fire("releases-prune", &[app.as_str()])?
            .lines()
            .filter_map(|n| n.trim().parse::<usize>().ok())
            .sum::<usize>();
    }
    ctx.out.verbose(format!(
        "Removed {containers} exited container(s), {images} dangling image(s) and {released} image(s) beyond release retention"
    ))
}

/// `report [<app>]`: the platform (without an app), then every core
/// plugin's report of the app, or of each app.
fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("report", &args)?;
    let apps: Vec<AppName> = match args.app.as_deref() {
        Some(name) => vec![ctx.existing_app(Some(name))?],
        None => {
            platform_report(ctx)?;
            crate::access::usable_apps(ctx, ctx.store.apps()?)?
        }
    };
    let reports: Vec<&Command> = CORE
        .iter()
        .flat_map(|p| p.commands.iter())
        // `<plugin>:report APP`; not `storage:labels:report ENTRY`.
        .filter(|c| c.name.ends_with(":report") && c.name.matches(':').count() == 1)
        .collect();
    for app in &apps {
        for command in &reports {
            (command.run)(ctx, vec![app.to_string()])?;
        }
    }
    Ok(())
}

fn platform_report(ctx: &Context) -> Result<()> {
    let uname = nix::sys::utsname::uname()
        .map(|u| {
            format!(
                "{} {} {} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy(),
                u.version().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        })
        .unwrap_or_default();
    ctx.out.info1(format!("uname: {uname}"))?;
    let engine = Engine::connect().and_then(|engine| engine.version());
    ctx.out.info1(format!(
        "docker version: {}",
        engine.unwrap_or_else(|e| format!("unavailable ({e})"))
    ))?;
    ctx.out.info1(format!(
        "dokku version: dokku version {DOKKU_VERSION} (berth {})",
        env!("CARGO_PKG_VERSION")
    ))?;
    let plugins: Vec<&str> = CORE.iter().map(|p| p.name).collect();
    ctx.out
        .info1(format!("core plugins: {}", plugins.join(" ")))?;
    ctx.out.info1(format!(
        "external plugins: {}",
        crate::external::enabled(&crate::external::Paths::new(&ctx.store))?
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    ))
}

/// Docker's tag rule: up to 128 of `[A-Za-z0-9_.-]`, not starting with
/// `.` or `-`.
fn is_image_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
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
