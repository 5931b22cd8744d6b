//! Dokku's `<plugin>:set [--global] <app> <key> [<value>]`, shared by every
//! plugin that stores properties.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::Scope;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    AppAndGlobal,
    AppOnly,
    GlobalOnly,
}

pub struct Property {
    pub name: &'static str,
    pub reach: Reach,
    /// Checks a non-empty value before it is stored.
    pub validate: Option<fn(&str) -> Result<()>>,
}

/// A parsed `:set` command line: the scope, the key and the (possibly
/// empty) value.
pub struct Request {
    pub scope: Scope,
    pub key: String,
    pub value: String,
}

/// Parses `[--global] <app> <key> [<value>]`.
pub fn parse(ctx: &Context, command: &str, args: Vec<String>) -> Result<Request> {
    let args: crate::args::SetArgs = crate::args::parse(command, &args)?;
    let (scope, rest) = ctx.scope_and_rest(args.global, args.words)?;
    let mut rest = rest.into_iter();
    let key = rest
        .next()
        .ok_or_else(|| Error::fail("No property specified"))?;
    let value = rest.collect::<Vec<_>>().join(" ");
    Ok(Request { scope, key, value })
}

/// Dokku's refusal of an unknown property, naming the valid ones.
pub fn invalid_property<'a>(names: impl Iterator<Item = &'a str>) -> Error {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    Error::fail(format!(
        "Invalid property specified, valid properties include: {}",
        names.join(", ")
    ))
}

/// Checks a non-empty value with `validate`, says what happens, and stores
/// the value (an empty one deletes the property).
pub fn store(
    ctx: &Context,
    plugin: &str,
    request: &Request,
    validate: impl FnOnce(&str) -> Result<()>,
) -> Result<()> {
    let Request { scope, key, value } = request;
    if value.is_empty() {
        ctx.out.info2(format!("Unsetting {key}"))?;
    } else {
        validate(value)?;
        ctx.out.info2(format!("Setting {key} to {value}"))?;
    }
    ctx.store.set_property(plugin, scope, key, value)
}

/// Parses `[--global] <app> <key> [<value>]` and stores or deletes the
/// property of `plugin`.
pub fn run(ctx: &Context, plugin: &str, properties: &[Property], args: Vec<String>) -> Result<()> {
    let request = parse(ctx, &format!("{plugin}:set"), args)?;
    let Some(property) = properties.iter().find(|p| p.name == request.key) else {
        return Err(invalid_property(properties.iter().map(|p| p.name)));
    };
    match (property.reach, &request.scope) {
        (Reach::AppOnly, Scope::Global) => {
            return Err(Error::fail("Property cannot be specified globally"));
        }
        (Reach::GlobalOnly, Scope::App(_)) => {
            return Err(Error::fail("Property can only be specified globally"));
        }
        _ => {}
    }
    store(ctx, plugin, &request, |value| match property.validate {
        Some(validate) => validate(value),
        None => Ok(()),
    })
}
