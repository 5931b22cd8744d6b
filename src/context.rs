//! What every command and trigger handler gets: the store, the output, the
//! global flags, and the trigger bus.

use crate::app_name::{AppName, NO_NAME};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::external::{self, ExternalPlugin};
use crate::output::Output;
use crate::plugins;
use crate::store::lock::{DeployLock, DeployLockError};
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
    /// Who runs this process's command, read on first use.
    caller: std::sync::OnceLock<Caller>,
    bus: TriggerBus,
    /// The enabled external plugins, read once per process on first use.
    externals: std::sync::OnceLock<Vec<ExternalPlugin>>,
}

impl Context {
    pub fn new(store: Store, flags: GlobalFlags) -> Context {
        Context {
            store,
            out: Output { quiet: flags.quiet },
            flags,
            caller: std::sync::OnceLock::new(),
            bus: TriggerBus::new(plugins::CORE),
            externals: std::sync::OnceLock::new(),
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> Context {
        Context::new(
            Store::new("/nonexistent/home", "/nonexistent/lib"),
            GlobalFlags::default(),
        )
    }

    /// Who runs this command (see [`Caller`]).
    pub fn caller(&self) -> Result<&Caller> {
        if let Some(caller) = self.caller.get() {
            return Ok(caller);
        }
        let caller = Caller::from_env(&self.store)?;
        Ok(self.caller.get_or_init(|| caller))
    }

    /// The enabled external plugins, by name. A plugin folder that cannot
    /// be listed counts as no plugins, with a warning.
    pub fn external_plugins(&self) -> &[ExternalPlugin] {
        self.externals.get_or_init(|| {
            external::enabled(&external::Paths::new(&self.store)).unwrap_or_else(|e| {
                let _ = self.out.warn(format!("Ignoring external plugins: {e}"));
                Vec::new()
            })
        })
    }

    /// Whether an enabled external plugin answers `trigger` (Dokku runs
    /// `user-auth` only when some plugin implements it).
    pub fn external_answers(&self, trigger: &str) -> bool {
        self.external_plugins()
            .iter()
            .any(|p| p.dir.join(trigger).is_file())
    }

    /// Fires a trigger on the bus; see [`TriggerBus::fire`].
    pub fn fire(&self, trigger: &str, args: &[&str]) -> Result<String> {
        self.bus.fire(self, trigger, args)
    }

    /// Fires `trigger`; each answer separately, with who gave it.
    pub fn fire_each(
        &self,
        trigger: &str,
        args: &[&str],
    ) -> Result<Vec<(crate::trigger::Origin, String)>> {
        self.bus.fire_each(self, trigger, args)
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

    /// Takes `app`'s deploy lock for a path that switches its containers
    /// (a push, a restart, a scale, a config change). When another deploy
    /// holds it, this one says so and waits its turn (Dokku's push gives up
    /// instead); `apps:lock` refuses.
    pub fn deploy_lock(&self, app: &AppName) -> Result<DeployLock> {
        let path = self.store.deploy_lock_path(app);
        let mut taken = DeployLock::try_acquire(&path)?;
        if taken.as_ref().is_err_and(|e| *e == DeployLockError::Busy) {
            self.out.info1(format!(
                "Waiting for the deploy of {app} in progress to finish"
            ))?;
            taken = DeployLock::acquire(&path)?;
        }
        match taken {
            Ok(lock) => Ok(lock),
            Err(DeployLockError::Busy) => Err(Error::fail(format!(
                "{app} is still locked by another deploy"
            ))),
            Err(DeployLockError::Manual) => {
                self.out.warn(format!("{app} is locked with apps:lock."))?;
                Err(Error::fail("Run 'apps:unlock' to allow deploys again"))
            }
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
