//! One-off containers: `run`, `run:detached` and cron tasks (`cron:run`,
//! and the runs `berth server` fires on schedule) — one path for all of
//! them, so a scheduled task gets exactly what `run:detached` gets: the
//! release's image, the app's environment, the `run` phase's mounts and
//! docker options.
//!
//! A one-off container is named `<app>.run.<suffix>` (`<app>.cron.<suffix>`
//! for a cron task) and labelled as Dokku labels it:
//! `com.dokku.container-type=run`, `com.dokku.app-name`,
//! `com.dokku.dyno`, `com.dokku.active-deadline-seconds` (its TTL) and, for
//! a cron task, `com.dokku.cron-id`. The scheduler only ever looks at
//! `container-type=deploy` containers, so a one-off one is never taken for
//! a dyno or an orphan. [`retire_expired`] removes those past their TTL.
//!
//! Architecture invariant: the command is an argv list (words split by
//! [`crate::words::split`], never a shell), and a container name a client
//! gives ([`find`]) only ever reaches a one-off container of an app the
//! caller may use.

use std::collections::{BTreeMap, HashMap};

use crate::app_name::AppName;
use crate::app_network;
use crate::container_spec::{ContainerSpec, Role};
use crate::context::Context;
use crate::engine::Engine;
use crate::engine::models::ContainerSummary;
use crate::error::{Error, Result};
use crate::procfile::Procfile;

pub const LABEL_APP: &str = "com.dokku.app-name";
pub const LABEL_TYPE: &str = "com.dokku.container-type";
pub const LABEL_DYNO: &str = "com.dokku.dyno";
pub const LABEL_DEADLINE: &str = "com.dokku.active-deadline-seconds";
pub const LABEL_CRON_ID: &str = "com.dokku.cron-id";

/// Dokku's default TTL of a one-off container: 24 hours.
pub const DEFAULT_TTL: u64 = 86_400;

/// `--ttl-seconds`: a plain positive integer, as Dokku 0.38.25 requires.
pub fn parse_ttl(text: Option<&str>) -> Result<u64> {
    match text {
        None => Ok(DEFAULT_TTL),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0 && text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| Error::fail("--ttl-seconds must be a positive integer")),
    }
}

/// What a one-off container is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Run,
    /// A cron task, by its id.
    Cron(String),
}

/// A one-off container to start.
pub struct OneOff {
    pub app: AppName,
    pub kind: Kind,
    /// The words as given: a Procfile type's name, a command, or nothing
    /// (a shell).
    pub command: Vec<String>,
    /// `-e KEY=VALUE` pairs, over the app's environment.
    pub env: Vec<(String, String)>,
    pub ttl: u64,
    pub tty: bool,
}

/// A created container: its id and name.
pub struct Created {
    pub id: String,
    pub name: String,
}

impl OneOff {
    /// Creates the container (not started). `detached` containers are
    /// removed by the engine when their command ends (Dokku's `--rm`).
    fn create(&self, ctx: &Context, engine: &Engine, detached: bool) -> Result<Created> {
        let app = &self.app;
        let word = match self.kind {
            Kind::Run => "run",
            Kind::Cron(_) => "cron",
        };
        let dyno = format!("{word}.{}", suffix());
        let mut env = ctx.store.merged_env(app)?;
        env.insert("DYNO".into(), dyno.clone());
        for (key, value) in &self.env {
            env.insert(key.clone(), value.clone());
        }
        let cmd = resolve_command(ctx, app, self.command.clone(), &env)?;
        let spec = ContainerSpec {
            app: app.clone(),
            tag: "latest".into(),
            role: Role::Run {
                dyno: dyno.clone(),
                tty: self.tty,
            },
            cmd,
            env,
            restart_policy: None,
            network: app_network::ensure(ctx, engine)?.id,
        };
        let mut body = spec.body(ctx)?;
        let labels = body.labels.get_or_insert_with(HashMap::new);
        labels.insert(LABEL_DEADLINE.into(), self.ttl.to_string());
        if let Kind::Cron(id) = &self.kind {
            labels.insert(LABEL_CRON_ID.into(), id.clone());
        }
        if detached {
            // `docker run -d` (with `-it` under --force-tty): nobody is
            // attached, the engine removes it when it ends.
            body.attach_stdin = Some(false);
            body.attach_stdout = Some(false);
            body.attach_stderr = Some(false);
            body.open_stdin = Some(self.tty);
            body.stdin_once = Some(false);
            body.host_config
                .get_or_insert_with(Default::default)
                .auto_remove = Some(true);
        }
        let name = format!("{app}.{dyno}");
        let id = engine.create_container(&name, body)?;
        if let Err(e) = ctx.fire("post-container-create", &["app", &id, app.as_str(), "run"]) {
            engine.remove_container(&id)?;
            return Err(e);
        }
        Ok(Created { id, name })
    }

    /// Starts the container in the background; returns its name.
    pub fn start_detached(&self, ctx: &Context) -> Result<String> {
        let engine = Engine::connect()?;
        let created = self.create(ctx, &engine, true)?;
        if let Err(e) = engine.start_container(&created.id) {
            engine.remove_container(&created.id)?;
            return Err(e);
        }
        Ok(created.name)
    }

    /// Runs the container attached to our stdio, removes it, and returns
    /// its exit code.
    pub fn run_attached(&self, ctx: &Context) -> Result<i64> {
        let engine = Engine::connect()?;
        let created = self.create(ctx, &engine, false)?;
        let result = engine.run_attached(&created.id, self.tty);
        engine.remove_container(&created.id)?;
        result
    }
}

/// A short random-enough suffix for a container name (`run.1a2b3c`).
fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:x}", std::process::id() ^ nanos)
}

/// The shell `run` and `enter` open without a command: the scheduler's
/// `shell` property (app, else global), else `/bin/bash`.
pub fn app_shell(ctx: &Context, app: &AppName) -> Result<String> {
    let shell = ctx.fire("scheduler-shell", &[app.as_str()])?;
    let shell = shell.trim();
    Ok(if shell.is_empty() {
        "/bin/bash".into()
    } else {
        shell.to_string()
    })
}

/// The command to run: a Procfile type's command when the only word names
/// one, else the words as given; nothing given runs a shell.
pub fn resolve_command(
    ctx: &Context,
    app: &AppName,
    command: Vec<String>,
    env: &BTreeMap<String, String>,
) -> Result<Option<Vec<String>>> {
    if command.is_empty() {
        return Ok(Some(vec![app_shell(ctx, app)?]));
    }
    if command.len() == 1
        && let Some(text) =
            crate::release_files::read(&ctx.store, app, None, crate::release_files::PROCFILE)
        && let Some(line) = Procfile::parse(&text)?.command(&command[0])
    {
        ctx.out.info1(format!(
            "Found '{}' in Procfile, running that command",
            command[0]
        ))?;
        let words = crate::words::split(&crate::words::expand(line, env))
            .map_err(|e| Error::fail(format!("Invalid Procfile command: {e}")))?;
        return Ok(Some(words));
    }
    Ok(Some(command))
}

/// A one-off container as the engine lists it.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub app: String,
    pub dyno: String,
    /// `running`, `exited`, …
    pub state: String,
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub ttl: Option<u64>,
    pub cron_id: Option<String>,
}

impl Container {
    fn from_summary(summary: ContainerSummary) -> Option<Container> {
        let labels = summary.labels.unwrap_or_default();
        let name = summary
            .names
            .unwrap_or_default()
            .first()?
            .trim_start_matches('/')
            .to_string();
        Some(Container {
            id: summary.id?,
            name,
            app: labels.get(LABEL_APP)?.clone(),
            dyno: labels.get(LABEL_DYNO).cloned().unwrap_or_default(),
            state: summary.state.map(|s| s.to_string()).unwrap_or_default(),
            command: summary.command.unwrap_or_default(),
            created: summary.created.unwrap_or_default(),
            ttl: labels.get(LABEL_DEADLINE).and_then(|v| v.parse().ok()),
            cron_id: labels.get(LABEL_CRON_ID).cloned(),
        })
    }

    /// Whether its TTL has passed at `now` (unix seconds).
    pub fn expired(&self, now: i64) -> bool {
        self.ttl
            .is_some_and(|ttl| now >= self.created.saturating_add(ttl as i64))
    }
}

/// The one-off containers of `app` (every app's with `None`), oldest
/// first.
pub fn list(engine: &Engine, app: Option<&AppName>) -> Result<Vec<Container>> {
    let mut labels = vec![(LABEL_TYPE, "run")];
    if let Some(app) = app {
        labels.push((LABEL_APP, app.as_str()));
    }
    let mut found: Vec<Container> = engine
        .containers(&labels)?
        .into_iter()
        .filter_map(Container::from_summary)
        .collect();
    found.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    Ok(found)
}

/// The one-off container a client names: it must be one (labelled
/// `container-type=run`, the exact name), of an existing app the caller may
/// use. Anything else is refused the same way, so a name reveals nothing.
pub fn find(ctx: &Context, engine: &Engine, name: &str) -> Result<Container> {
    let refused = || Error::fail(format!("Invalid run container specified: {name}"));
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(refused());
    }
    let container = list(engine, None)?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(refused)?;
    let app = AppName::lookup(&container.app).map_err(|_| refused())?;
    if !ctx.store.app_exists(&app) || crate::access::usable_apps(ctx, vec![app])?.is_empty() {
        return Err(refused());
    }
    Ok(container)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Stops and removes every one-off container of this installation's apps
/// past its TTL; returns their names.
pub fn retire_expired(ctx: &Context, engine: &Engine) -> Result<Vec<String>> {
    let now = now();
    let mut retired = Vec::new();
    for container in list(engine, None)? {
        // Only this installation's apps: another berth on the same engine
        // (another root) retires its own.
        let ours = AppName::lookup(&container.app).is_ok_and(|app| ctx.store.app_exists(&app));
        if ours && container.expired(now) {
            // Its deadline has passed: a short grace, then it is killed
            // (the platform's retire loop must not wait long on one).
            engine.stop_container(&container.id, 2)?;
            engine.remove_container(&container.id)?;
            retired.push(container.name);
        }
    }
    Ok(retired)
}

/// Docker's "2 seconds ago" for a container created `seconds` ago.
pub fn running_for(seconds: i64) -> String {
    let s = seconds.max(0);
    let text = match s {
        0 => return "Less than a second ago".into(),
        1 => "1 second".to_string(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".to_string(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".to_string(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", s / 604_800),
        5_184_000..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    };
    format!("{text} ago")
}

/// Docker's `CreatedAt`: `2022-08-03 05:47:44 +0000 UTC`.
pub fn created_at(unix: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC"
    );
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_a_plain_positive_integer() {
        assert_eq!(parse_ttl(None).unwrap(), 86_400);
        assert_eq!(parse_ttl(Some("600")).unwrap(), 600);
        for bad in ["0", "-5", "+5", "5s", "", "$(id)", "1.5"] {
            let err = parse_ttl(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("must be a positive integer"), "{bad}: {err}");
        }
    }

    #[test]
    fn expiry_counts_from_creation() {
        let container = Container {
            id: "x".into(),
            name: "demo.run.1".into(),
            app: "demo".into(),
            dyno: "run.1".into(),
            state: "running".into(),
            command: "sleep 9".into(),
            created: 1000,
            ttl: Some(60),
            cron_id: None,
        };
        assert!(!container.expired(1059));
        assert!(container.expired(1060));
        let no_label = Container {
            ttl: None,
            ..container
        };
        assert!(!no_label.expired(i64::MAX));
    }

    #[test]
    fn times_read_as_docker_prints_them() {
        assert_eq!(running_for(2), "2 seconds ago");
        assert_eq!(running_for(90), "About a minute ago");
        assert_eq!(running_for(600), "10 minutes ago");
        assert_eq!(created_at(1_659_505_664), "2022-08-03 05:47:44 +0000 UTC");
    }
}
