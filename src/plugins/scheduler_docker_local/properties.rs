//! The scheduler's per-app settings, read from the store: stop timeout,
//! restart policy, the web process's port.

use crate::app_name::AppName;
use crate::context::Context;
use crate::engine::Engine;
use crate::engine::models::{RestartPolicy, RestartPolicyNameEnum};
use crate::error::{Error, Result};

/// The web port when nothing says otherwise (Dokku's).
pub(super) const DEFAULT_WEB_PORT: u16 = 5000;

pub(super) fn stop_timeout(ctx: &Context, app: &AppName) -> Result<i32> {
    Ok(ctx
        .store
        .app_property("ps", app, "stop-timeout-seconds")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(30))
}

pub(super) fn restart_policy(ctx: &Context, app: &AppName) -> Result<RestartPolicy> {
    let value = ctx
        .store
        .app_property("ps", app, "restart-policy")?
        .unwrap_or_else(|| "on-failure:10".into());
    Ok(parse_restart_policy(&value))
}

/// Dokku's `restart-policy` value (`no`, `always`, `unless-stopped`,
/// `on-failure[:N]`) as the engine's; anything else is `on-failure`.
fn parse_restart_policy(value: &str) -> RestartPolicy {
    let (name, count) = match value.split_once(':') {
        Some((name, count)) => (name, count.parse().ok()),
        None => (value, None),
    };
    let name = match name {
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        _ => RestartPolicyNameEnum::ON_FAILURE,
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: count,
    }
}

/// The port the web process listens on: the container port of the app's
/// first effective non-udp map (the builder recorded what the image
/// exposes), else 5000. Fails when the release's image is gone.
pub(super) fn web_port(ctx: &Context, engine: &Engine, app: &AppName, image: &str) -> Result<u16> {
    if engine.image(image)?.is_none() {
        return Err(Error::fail(format!(
            "Image {image} not found: deploy the app first"
        )));
    }
    let port = ctx.fire("ports-web-container-port", &[app.as_str()])?;
    Ok(port.trim().parse().unwrap_or(DEFAULT_WEB_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_read_as_dokku_writes_them() {
        let policy = |text: &str| {
            let p = parse_restart_policy(text);
            (p.name.unwrap(), p.maximum_retry_count)
        };
        assert_eq!(policy("no"), (RestartPolicyNameEnum::NO, None));
        assert_eq!(policy("always"), (RestartPolicyNameEnum::ALWAYS, None));
        assert_eq!(
            policy("unless-stopped"),
            (RestartPolicyNameEnum::UNLESS_STOPPED, None)
        );
        assert_eq!(
            policy("on-failure:10"),
            (RestartPolicyNameEnum::ON_FAILURE, Some(10))
        );
        assert_eq!(
            policy("on-failure"),
            (RestartPolicyNameEnum::ON_FAILURE, None)
        );
        assert_eq!(
            policy("on-failure:many"),
            (RestartPolicyNameEnum::ON_FAILURE, None)
        );
    }
}
