//! The apps' bridge network as deploys, one-off runs and the platform
//! container use it: made on first use ([`crate::engine::Engine::ensure_network`],
//! race-free), and when the engine held duplicates, the repair is said and
//! every app whose containers moved (their addresses changed) is routed
//! again.

use crate::app_name::AppName;
use crate::context::Context;
use crate::engine::models::ContainerInspectResponse;
use crate::engine::{self, AppNetwork, Engine};
use crate::error::Result;

/// The apps' network, ready to attach containers to (by its id).
pub fn ensure(ctx: &Context, engine: &Engine) -> Result<AppNetwork> {
    let network = engine.ensure_network(&engine::app_network())?;
    if let Some(repair) = &network.repair {
        ctx.out.warn(format!(
            "Found {} networks named {}: {repair}",
            repair.removed.len() + 1,
            network.name
        ))?;
        let mut apps: Vec<&str> = repair
            .moved
            .iter()
            .filter_map(|(_, app)| app.as_deref())
            .collect();
        apps.sort_unstable();
        apps.dedup();
        for name in apps {
            let Ok(app) = AppName::lookup(name) else {
                continue;
            };
            if !ctx.store.app_exists(&app) {
                continue;
            }
            let rerouted = ctx
                .fire("scheduler-pre-restore", &[app.as_str()])
                .and_then(|_| ctx.fire("proxy-build-config", &[app.as_str()]));
            if let Err(e) = rerouted {
                ctx.out.warn(format!(
                    "Unable to route {app} to its moved containers: {e}"
                ))?;
            }
        }
    }
    Ok(network)
}

/// A container's address on the apps' network, if it has one.
pub fn container_ip(info: &ContainerInspectResponse) -> Option<String> {
    info.network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(&engine::app_network())?
        .ip_address
        .clone()
        .filter(|ip| !ip.is_empty())
}
