//! The one builder of an app container's engine request, for the
//! scheduler's deploy containers and `run`'s one-off ones.
//!
//! [`ContainerSpec`] says what berth itself decides (image, command, env,
//! labels, restart policy, berth's network); [`ContainerSpec::body`] adds
//! what plugins contribute — the `storage-app-mounts` binds and the
//! `docker-args-*` options — through the one docker-options parser and
//! allow-list ([`crate::docker_args`]), and translates every host path to a
//! [`crate::host_path::HostPath`] on the way. Nothing else fills a
//! container's binds.

use std::collections::{BTreeMap, HashMap};

use crate::app_name::AppName;
use crate::context::Context;
use crate::docker_args::{self, OptionClass, RunOptions};
use crate::dynos::Dyno;
use crate::engine::models::{ContainerCreateBody, HostConfig, RestartPolicy};
use crate::error::Result;
use crate::host_path::to_host_path;
use crate::trigger::Origin;

/// What kind of container, with what identifies it among the app's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A process of the release (`web.1`), labelled `deploy`.
    Deploy(Dyno),
    /// A one-off `run` container (`run.<suffix>`), attached to the caller.
    Run { dyno: String, tty: bool },
}

impl Role {
    /// `deploy` or `run`: the phase plugins' triggers are fired for.
    pub fn phase(&self) -> &'static str {
        match self {
            Role::Deploy(_) => "deploy",
            Role::Run { .. } => "run",
        }
    }

    /// The `DYNO` value: `web.1`, `run.1a2b`.
    pub fn dyno(&self) -> String {
        match self {
            Role::Deploy(dyno) => dyno.name(),
            Role::Run { dyno, .. } => dyno.clone(),
        }
    }
}

/// An app container as berth decides it, before plugins add to it.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub app: AppName,
    /// The image tag of `dokku/<app>`.
    pub tag: String,
    pub role: Role,
    /// `None` runs the image's own command.
    pub cmd: Option<Vec<String>>,
    /// The config vars, plus `DYNO` (and `PORT` for web) berth adds.
    pub env: BTreeMap<String, String>,
    pub restart_policy: Option<RestartPolicy>,
    /// The apps' network, by id.
    pub network: String,
}

impl ContainerSpec {
    pub fn image(&self) -> String {
        format!("dokku/{}:{}", self.app, self.tag)
    }

    /// The engine request: berth's fields ([`ContainerSpec::base_body`]),
    /// then the app's mounts and the plugins' docker options, each checked
    /// and every host path translated.
    pub fn body(&self, ctx: &Context) -> Result<ContainerCreateBody> {
        let mut body = self.base_body();
        let to_host = |path: &std::path::Path| to_host_path(&ctx.store, path);
        self.mounts(ctx)?.apply(&mut body, &to_host)?;
        let app = self.app.as_str();
        let tag = self.tag.as_str();
        let options = match &self.role {
            Role::Deploy(dyno) => {
                let index = dyno.index.to_string();
                RunOptions::from_plugins(
                    ctx,
                    "deploy",
                    &[app, tag, &dyno.kind, &index],
                    &[app, "dockerfile", tag, &dyno.kind, &index],
                )?
            }
            Role::Run { .. } => {
                RunOptions::from_plugins(ctx, "run", &[app, tag], &[app, "dockerfile", tag])?
            }
        };
        options.apply(&mut body, &to_host)?;
        Ok(body)
    }

    /// What berth itself puts in the request, free of plugins and of the
    /// environment.
    pub fn base_body(&self) -> ContainerCreateBody {
        let mut labels = HashMap::from([
            ("com.dokku.app-name".to_string(), self.app.to_string()),
            (
                "com.dokku.container-type".to_string(),
                self.role.phase().to_string(),
            ),
            ("com.dokku.dyno".to_string(), self.role.dyno()),
            ("dokku".to_string(), String::new()),
        ]);
        if let Role::Deploy(dyno) = &self.role {
            labels.insert("com.dokku.process-type".to_string(), dyno.kind.clone());
        }
        let mut body = ContainerCreateBody {
            image: Some(self.image()),
            cmd: self.cmd.clone(),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                init: Some(true),
                restart_policy: self.restart_policy.clone(),
                network_mode: Some(self.network.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Role::Run { tty, .. } = self.role {
            body.tty = Some(tty);
            body.open_stdin = Some(true);
            body.stdin_once = Some(true);
            body.attach_stdin = Some(true);
            body.attach_stdout = Some(true);
            body.attach_stderr = Some(true);
        }
        body
    }

    /// The `storage-app-mounts` answers as `-v` options. berth's storage
    /// plugin answers what an admin set with `storage:mount`; an external
    /// plugin's host folders need the admin's host-mounts class, as its
    /// `-v` options would.
    fn mounts(&self, ctx: &Context) -> Result<RunOptions> {
        // A deploy container names its process type, so an attachment made
        // for another type (`storage:mount --process-type`) stays out.
        let mut args = vec![self.app.as_str(), self.role.phase()];
        if let Role::Deploy(dyno) = &self.role {
            args.push(&dyno.kind);
        }
        let answers = ctx.fire_each("storage-app-mounts", &args)?;
        let allowed = docker_args::allowed_classes(ctx)?;
        let mut mounts = RunOptions::default();
        for (origin, text) in answers {
            let parsed = match origin {
                Origin::Core => RunOptions::parse_volumes(&text, &[OptionClass::HostMounts]),
                Origin::External => RunOptions::parse_volumes(&text, &allowed),
            };
            mounts.extend(parsed?);
        }
        Ok(mounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(role: Role) -> ContainerSpec {
        ContainerSpec {
            app: AppName::lookup("demo").unwrap(),
            tag: "latest".into(),
            role,
            cmd: Some(vec!["./web".into()]),
            env: BTreeMap::from([("A".to_string(), "1".to_string())]),
            restart_policy: None,
            network: "net-id".into(),
        }
    }

    #[test]
    fn deploy_containers_carry_dokkus_labels() {
        let body = spec(Role::Deploy(Dyno {
            kind: "web".into(),
            index: 2,
        }))
        .base_body();
        let labels = body.labels.unwrap();
        assert_eq!(labels["com.dokku.container-type"], "deploy");
        assert_eq!(labels["com.dokku.process-type"], "web");
        assert_eq!(labels["com.dokku.dyno"], "web.2");
        assert_eq!(body.image.as_deref(), Some("dokku/demo:latest"));
        assert_eq!(body.env.unwrap(), vec!["A=1"]);
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("net-id"));
        assert_eq!(host.binds, None, "binds come only from parsed mounts");
        assert_eq!(body.tty, None);
    }

    #[test]
    fn run_containers_attach_and_have_no_process_type() {
        let body = spec(Role::Run {
            dyno: "run.1a".into(),
            tty: true,
        })
        .base_body();
        let labels = body.labels.unwrap();
        assert_eq!(labels["com.dokku.container-type"], "run");
        assert!(!labels.contains_key("com.dokku.process-type"));
        assert_eq!(body.tty, Some(true));
        assert_eq!(body.open_stdin, Some(true));
    }

    #[test]
    fn a_plugins_host_folder_needs_the_class_berths_storage_does_not() {
        let line = "/srv/data:/data\n";
        assert!(RunOptions::parse_volumes(line, &[OptionClass::HostMounts]).is_ok());
        let refused = RunOptions::parse_volumes(line, &[])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("class host-mounts"), "{refused}");
        assert!(RunOptions::parse_volumes("cache:/cache:ro\n\n", &[]).is_ok());
    }
}
