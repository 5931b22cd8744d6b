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

/// Parses `[--global] <app> <key> [<value>]` and stores or deletes the
/// property of `plugin`.
pub fn run(ctx: &Context, plugin: &str, properties: &[Property], args: Vec<String>) -> Result<()> {
    let global = args.iter().any(|a| a == "--global");
    let args: Vec<String> = args.into_iter().filter(|a| a != "--global").collect();
    let (scope, rest) = ctx.scope_and_rest(global, args)?;
    let mut rest = rest.into_iter();
    let key = rest
        .next()
        .ok_or_else(|| Error::fail("No property specified"))?;
    let value = rest.collect::<Vec<_>>().join(" ");
    let Some(property) = properties.iter().find(|p| p.name == key) else {
        let mut names: Vec<&str> = properties.iter().map(|p| p.name).collect();
        names.sort_unstable();
        return Err(Error::fail(format!(
            "Invalid property specified, valid properties include: {}",
            names.join(", ")
        )));
    };
    match (property.reach, &scope) {
        (Reach::AppOnly, Scope::Global) => {
            return Err(Error::fail("Property cannot be specified globally"));
        }
        (Reach::GlobalOnly, Scope::App(_)) => {
            return Err(Error::fail("Property can only be specified globally"));
        }
        _ => {}
    }
    if value.is_empty() {
        ctx.out.info2(format!("Unsetting {key}"))?;
    } else {
        if let Some(validate) = property.validate {
            validate(&value)?;
        }
        ctx.out.info2(format!("Setting {key} to {value}"))?;
    }
    ctx.store.set_property(plugin, &scope, &key, &value)
}
