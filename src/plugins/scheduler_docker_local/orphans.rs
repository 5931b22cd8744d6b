//! What a killed deploy leaves behind: containers no release owns.

use super::retire;
use crate::app_name::AppName;
use crate::context::Context;
use crate::dynos as state;
use crate::engine::Engine;
use crate::error::Result;

/// Containers of the app that no release owns any more, left by a deploy
/// that was killed (power loss, `docker rm -f` of the platform): new ones
/// that never took traffic (`.upcoming-`) are removed, old ones a switch
/// replaced but never queued go to retirement like any old container.
/// Call with the app's deploy lock held: then no deploy is running.
pub(super) fn sweep_orphans(ctx: &Context, engine: &Engine, app: &AppName) -> Result<()> {
    let owned: Vec<String> = state::dynos(&ctx.store, app)?
        .iter()
        .filter_map(|dyno| state::container_id(&ctx.store, app, dyno))
        .chain(retire::queued(ctx, app)?)
        .collect();
    let mut orphans = Vec::new();
    for summary in engine.containers(&[
        ("com.dokku.app-name", app.as_str()),
        ("com.dokku.container-type", "deploy"),
    ])? {
        let Some(id) = summary.id else { continue };
        if owned.contains(&id) {
            continue;
        }
        let upcoming = summary
            .names
            .unwrap_or_default()
            .iter()
            .any(|name| name.contains(".upcoming-"));
        if upcoming {
            engine.remove_container(&id)?;
        } else {
            orphans.push(id);
        }
    }
    if !orphans.is_empty() {
        let wait = retire::wait_to_retire(ctx, app)?;
        retire::schedule(ctx, app, &orphans, wait)?;
    }
    Ok(())
}
