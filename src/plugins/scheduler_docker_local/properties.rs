//! The scheduler's per-app settings, read from the store: stop timeout,
//! restart policy, the web process's port; and its own properties
//! (`scheduler-docker-local:set`): `init-process` (default `true`: the
//! engine's init reaps zombies) and `parallel-schedule-count` (stored and
//! reported; berth starts a deploy's containers one after another).

use crate::app_name::AppName;
use crate::context::Context;
use crate::engine::Engine;
use crate::engine::models::{RestartPolicy, RestartPolicyNameEnum};
use crate::error::{Error, Result};
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec, Rows};

const PLUGIN: &str = "scheduler-docker-local";

const PROPERTIES: &[Property] = &[
    Property {
        name: "init-process",
        reach: Reach::AppAndGlobal,
        validate: Some(boolean),
    },
    Property {
        name: "parallel-schedule-count",
        reach: Reach::AppAndGlobal,
        validate: Some(positive_count),
    },
];

const LAYERED: &[(&str, &str)] = &[("init-process", "true"), ("parallel-schedule-count", "1")];

fn boolean(value: &str) -> Result<()> {
    match value {
        "true" | "false" => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value {value}: use true or false"
        ))),
    }
}

fn positive_count(value: &str) -> Result<()> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value {value}: parallel-schedule-count is a whole number of 1 or more"
        ))),
    }
}

pub(super) fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, PLUGIN, PROPERTIES, args)
}

pub(super) fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "scheduler-docker-local:report",
        title: PLUGIN,
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => {
            let mut rows = Rows::new();
            for (key, default) in LAYERED {
                let values = ctx.store.layered_property(PLUGIN, app, key)?;
                rows.extend(report::layered_rows(PLUGIN, key, &values, default));
            }
            Ok(rows)
        }
        report::Target::Global => report::global_rows(ctx, PLUGIN, LAYERED),
    })
}

/// `docker-args-process-deploy APP ...`: `--init=false` when the app's
/// `init-process` is `false` (berth's containers otherwise run with init).
pub(super) fn trigger_docker_args(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let init = ctx.store.app_property(PLUGIN, &app, "init-process")?;
    Ok(match init.as_deref() {
        Some("false") => "--init=false".into(),
        _ => String::new(),
    })
}

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
