//! The global domains, `$DOKKU_ROOT/VHOST`: `domains:{add,set,remove,clear}-global`.
//! New apps (and `domains:reset`/`domains:enable`) derive their default
//! domains from them; changing them changes no app's own `VHOST`, so nothing
//! is fired.

use crate::args::{NoArgs, Words};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::Scope;

use super::vhost::{self, Domain};
use super::{global_vhost_path, update_vhost_file};

/// The same for the global `VHOST`, under the global lock.
fn update_global_vhost<T>(ctx: &Context, change: impl FnOnce(&mut Vec<Domain>) -> T) -> Result<T> {
    let _lock = ctx.store.lock(&Scope::Global)?;
    update_vhost_file(&global_vhost_path(ctx), change)
}

/// At least one domain, all valid.
fn domains_arg(command: &str, args: &[String]) -> Result<Vec<Domain>> {
    vhost::parse_all(&words(command, args)?)
}

/// `<domain>...`, at least one word.
fn words(command: &str, args: &[String]) -> Result<Vec<String>> {
    let args: Words = crate::args::parse(command, args)?;
    if args.words.is_empty() {
        return Err(Error::fail(format!(
            "Please specify a domain name. Usage: dokku {command} DOMAIN [DOMAIN ...]"
        )));
    }
    Ok(args.words)
}

pub fn add_global(ctx: &Context, args: Vec<String>) -> Result<()> {
    let domains = domains_arg("domains:add-global", &args)?;
    let added = update_global_vhost(ctx, |current| vhost::push_new(current, &domains))?;
    for (domain, is_new) in domains.iter().zip(added) {
        if is_new {
            ctx.out.info1(format!("Added {domain}"))?;
        } else {
            ctx.out.info1(format!("Skipping {domain}: already added"))?;
        }
    }
    Ok(())
}

pub fn set_global(ctx: &Context, args: Vec<String>) -> Result<()> {
    let domains = vhost::unique(domains_arg("domains:set-global", &args)?);
    update_global_vhost(ctx, |current| *current = domains.clone())?;
    let list: Vec<&str> = domains.iter().map(Domain::as_str).collect();
    ctx.out.info1(format!("Set {}", list.join(" ")))
}

pub fn remove_global(ctx: &Context, args: Vec<String>) -> Result<()> {
    let targets = vhost::lowercased(&words("domains:remove-global", &args)?);
    update_global_vhost(ctx, |current| vhost::remove_all(current, &targets))?;
    for target in &targets {
        ctx.out.info1(format!("Removed {target}"))?;
    }
    Ok(())
}

pub fn clear_global(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<NoArgs>("domains:clear-global", &args)?;
    update_global_vhost(ctx, Vec::clear)?;
    ctx.out.info1("Cleared global domains")
}
