//! What every command and trigger handler gets: the store, the output, the
//! global flags, and the trigger bus.

use crate::app_name::{AppName, NO_NAME};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::plugins;
use crate::store::{Scope, Store};
use crate::trigger::TriggerBus;

/// Dokku's global flags (`--quiet`, `--trace`, `--force`, `--app`).
#[derive(Debug, Clone, Default)]
pub struct GlobalFlags {
    pub quiet: bool,
    pub trace: bool,
    pub force: bool,
    pub app: Option<String>,
}

pub struct Context {
    pub store: Store,
    pub out: Output,
    pub flags: GlobalFlags,
    bus: TriggerBus,
}

impl Context {
    pub fn new(store: Store, flags: GlobalFlags) -> Context {
        Context {
            store,
            out: Output { quiet: flags.quiet },
            flags,
            bus: TriggerBus::new(plugins::CORE),
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> Context {
        Context::new(
            Store::new("/nonexistent/home", "/nonexistent/lib"),
            GlobalFlags::default(),
        )
    }

    /// Fires a trigger on the bus; see [`TriggerBus::fire`].
    pub fn fire(&self, trigger: &str, args: &[&str]) -> Result<String> {
        self.bus.fire(self, trigger, args)
    }

    /// The one gate for app names that must name an existing app: checks
    /// the name (exit 1) and the app's existence (exit 20).
    pub fn existing_app(&self, name: Option<&str>) -> Result<AppName> {
        let name = name.ok_or_else(|| Error::fail(NO_NAME))?;
        let app = AppName::lookup(name)?;
        if self.store.app_exists(&app) {
            Ok(app)
        } else {
            Err(Error::AppMissing(app.to_string()))
        }
    }

    /// `--global`, or the first of `args` as an existing app; returns the
    /// scope and the remaining arguments.
    pub fn scope_and_rest(
        &self,
        global: bool,
        mut args: Vec<String>,
    ) -> Result<(Scope, Vec<String>)> {
        if global {
            return Ok((Scope::Global, args));
        }
        if args.is_empty() {
            return Err(Error::fail(NO_NAME));
        }
        let app = self.existing_app(Some(&args.remove(0)))?;
        Ok((Scope::App(app), args))
    }
}
