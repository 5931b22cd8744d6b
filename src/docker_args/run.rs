//! `docker run` options (`docker-args-deploy`, `docker-args-run`): each
//! accepted option becomes a typed [`RunOption`], checked against the
//! admin-allowed classes; [`RunOptions::apply`] then lays them onto the
//! container body (see `apply`).

use std::net::IpAddr;
use std::path::Path;

use super::apply::{apply_run_option, join_networks};
use super::mounts::{Volume, mount, volume};
use super::values::{
    device, extra_host, host_only, integer, key_value, label, nano_cpus, restart_policy, size,
    ulimit, variable,
};
use super::{Flag, OptionClass, Words, bad_value, non_empty, require, unsupported};
use crate::engine::models::{
    ContainerCreateBody, DeviceMapping, HostConfigCgroupnsModeEnum, Mount, ResourcesUlimits,
    RestartPolicy,
};
use crate::error::{Error, Result};

/// Parsed `docker run` options for a deploy or run container.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunOptions {
    /// In the order given: for an option given twice, the last one wins.
    options: Vec<RunOption>,
}

/// One accepted `docker run` option, validated, not yet applied.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RunOption {
    Env(String, String),
    Label(String, String),
    AddHost(String),
    Dns(String),
    DnsSearch(String),
    DnsOption(String),
    Hostname(String),
    User(String),
    Workdir(String),
    Memory(i64),
    MemoryReservation(i64),
    MemorySwap(i64),
    NanoCpus(i64),
    CpuShares(i64),
    ShmSize(i64),
    PidsLimit(i64),
    Tmpfs(String, String),
    Ulimit(ResourcesUlimits),
    LogDriver(String),
    LogOpt(String, String),
    StopSignal(String),
    StopTimeout(i64),
    Init(bool),
    ReadOnly(bool),
    Restart(RestartPolicy),
    /// `--network host`: replaces berth's network.
    NetworkMode(String),
    /// `--network NAME`: joined besides berth's network.
    Network(String),
    NetworkAlias(String),
    /// `-p PORT[/PROTO]`: the container port published on a random host
    /// port of every interface (network:set bind-all-interfaces).
    Publish(String),
    GroupAdd(String),
    Sysctl(String, String),
    CapAdd(String),
    CapDrop(String),
    SecurityOpt(String),
    Privileged(bool),
    /// `path_on_host` not yet translated to a host path.
    Device(DeviceMapping),
    DeviceCgroupRule(String),
    PidMode(String),
    IpcMode(String),
    UtsMode(String),
    UsernsMode(String),
    CgroupnsMode(HostConfigCgroupnsModeEnum),
    /// `-v`/`--volume`.
    Volume(Volume),
    /// `--mount`; a bind source is not yet translated to a host path.
    Mount(Box<Mount>),
}

impl RunOptions {
    /// The options plugins give a container of `phase` (`deploy`, `run`):
    /// `docker-args-<phase> ARGS` and `docker-args-process-<phase>
    /// PROCESS_ARGS`, checked against the admin's allow-list.
    pub fn from_plugins(
        ctx: &crate::context::Context,
        phase: &str,
        args: &[&str],
        process_args: &[&str],
    ) -> Result<RunOptions> {
        let (text, allowed) = super::from_triggers(ctx, phase, args, process_args)?;
        RunOptions::parse(&text, &allowed)
    }

    /// Parses a trigger's output; `allowed` are the admin-allowed classes.
    /// Blanks and newlines between plugins' outputs only separate words;
    /// empty text gives empty options.
    pub fn parse(text: &str, allowed: &[OptionClass]) -> Result<RunOptions> {
        let mut words = Words::new(text)?;
        let mut options = Vec::new();
        while let Some(flag) = words.next_flag()? {
            options.push(parse_run_option(&mut words, flag, allowed)?);
        }
        let host_network = options
            .iter()
            .any(|o| matches!(o, RunOption::NetworkMode(_)));
        let other_network = options
            .iter()
            .any(|o| matches!(o, RunOption::Network(_) | RunOption::NetworkAlias(_)));
        if host_network && other_network {
            return Err(Error::fail(
                "Invalid docker options: --network host cannot be combined with other networks or --network-alias",
            ));
        }
        Ok(RunOptions { options })
    }

    /// Bind mounts given as lines of `SOURCE:TARGET[:MODE]`, as the
    /// `storage-app-mounts` trigger answers them: each line is the value of
    /// one `-v`, checked as `-v` is (a host folder needs the host-mounts
    /// class unless `allowed` has it).
    pub fn parse_volumes(text: &str, allowed: &[OptionClass]) -> Result<RunOptions> {
        let options = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| volume("-v", line, allowed).map(RunOption::Volume))
            .collect::<Result<_>>()?;
        Ok(RunOptions { options })
    }

    /// Adds `other`'s options after these (they win where both set one).
    pub fn extend(&mut self, other: RunOptions) {
        self.options.extend(other.options);
    }

    /// Applies the options to a container body berth already filled in (env,
    /// labels, binds, host config, ...). A single-valued option (`--memory`,
    /// `--restart`, `--init`, a label, a sysctl, ...) replaces berth's value
    /// and an earlier one; list options (`--dns`, `-v`, `--cap-add`, ...)
    /// add to the list.
    ///
    /// - `-e` replaces a config var of the same key (the parser refused
    ///   `PORT` and `DYNO`, which berth sets itself).
    /// - `-v` and `--mount` are added to berth's own mounts; every host
    ///   source goes through `to_host` (berth's host-path translation), as do
    ///   `--device` paths.
    /// - `--network NAME` joins NAME besides berth's network (which the
    ///   proxy routes through); `--network-alias` applies on all of them.
    pub fn apply(
        &self,
        body: &mut ContainerCreateBody,
        to_host: &dyn Fn(&Path) -> Result<crate::host_path::HostPath>,
    ) -> Result<()> {
        let mut networks: Vec<&str> = Vec::new();
        let mut aliases: Vec<&str> = Vec::new();
        for option in &self.options {
            match option {
                RunOption::Network(name) => networks.push(name),
                RunOption::NetworkAlias(alias) => aliases.push(alias),
                option => apply_run_option(option, body, to_host)?,
            }
        }
        if !networks.is_empty() || !aliases.is_empty() {
            join_networks(body, &networks, &aliases)?;
        }
        Ok(())
    }

    /// Whether no option was given.
    pub fn is_empty(&self) -> bool {
        self.options.is_empty()
    }
}

fn parse_run_option(words: &mut Words, flag: Flag, allowed: &[OptionClass]) -> Result<RunOption> {
    let name = flag.name.as_str();
    let option = match name {
        "-e" | "--env" => {
            let value = words.value(&flag)?;
            let (key, value) = variable(name, &value)?;
            if key == "PORT" || key == "DYNO" {
                return Err(Error::fail(format!(
                    "Refused docker option {name} {key}={value}: berth sets PORT and DYNO itself"
                )));
            }
            RunOption::Env(key, value)
        }
        "-l" | "--label" => {
            let (key, value) = label(name, &words.value(&flag)?)?;
            RunOption::Label(key, value)
        }
        "--add-host" => RunOption::AddHost(extra_host(name, &words.value(&flag)?)?),
        "--dns" => {
            let value = words.value(&flag)?;
            if value.parse::<IpAddr>().is_err() {
                return Err(bad_value(name, &value, "an IP address"));
            }
            RunOption::Dns(value)
        }
        "--dns-search" => RunOption::DnsSearch(non_empty(name, words.value(&flag)?)?),
        "--dns-option" => RunOption::DnsOption(non_empty(name, words.value(&flag)?)?),
        "-h" | "--hostname" => RunOption::Hostname(non_empty(name, words.value(&flag)?)?),
        "-u" | "--user" => RunOption::User(non_empty(name, words.value(&flag)?)?),
        "-w" | "--workdir" => {
            let value = words.value(&flag)?;
            if !value.starts_with('/') {
                return Err(bad_value(name, &value, "an absolute path"));
            }
            RunOption::Workdir(value)
        }
        "-m" | "--memory" => RunOption::Memory(size(name, &words.value(&flag)?)?),
        "--memory-reservation" => RunOption::MemoryReservation(size(name, &words.value(&flag)?)?),
        "--memory-swap" => {
            let value = words.value(&flag)?;
            // -1: unlimited swap, as docker's CLI allows.
            RunOption::MemorySwap(if value == "-1" {
                -1
            } else {
                size(name, &value)?
            })
        }
        "--cpus" => RunOption::NanoCpus(nano_cpus(name, &words.value(&flag)?)?),
        "-c" | "--cpu-shares" => RunOption::CpuShares(integer(name, &words.value(&flag)?, 0)?),
        "--shm-size" => RunOption::ShmSize(size(name, &words.value(&flag)?)?),
        "--pids-limit" => RunOption::PidsLimit(integer(name, &words.value(&flag)?, -1)?),
        "--tmpfs" => {
            let value = words.value(&flag)?;
            let (path, options) = value.split_once(':').unwrap_or((&value, ""));
            if !path.starts_with('/') {
                return Err(bad_value(name, &value, "/path[:options]"));
            }
            RunOption::Tmpfs(path.to_string(), options.to_string())
        }
        "--ulimit" => RunOption::Ulimit(ulimit(name, &words.value(&flag)?)?),
        "--log-driver" => RunOption::LogDriver(non_empty(name, words.value(&flag)?)?),
        "--log-opt" => {
            let (key, value) = key_value(name, &words.value(&flag)?)?;
            RunOption::LogOpt(key, value)
        }
        "--stop-signal" => RunOption::StopSignal(non_empty(name, words.value(&flag)?)?),
        "--stop-timeout" => RunOption::StopTimeout(integer(name, &words.value(&flag)?, -1)?),
        "--init" => RunOption::Init(flag.switch()?),
        "--read-only" => RunOption::ReadOnly(flag.switch()?),
        "--restart" => RunOption::Restart(restart_policy(name, &words.value(&flag)?)?),
        "--network" | "--net" => {
            let value = non_empty(name, words.value(&flag)?)?;
            match value.as_str() {
                "host" => {
                    require(allowed, OptionClass::HostNamespaces, name, &value)?;
                    RunOption::NetworkMode(value)
                }
                "none" | "default" => {
                    return Err(Error::fail(format!(
                        "Unsupported docker option {name} {value}: berth's containers stay on berth's network, which the proxy routes through"
                    )));
                }
                v if v.starts_with("container:") => {
                    return Err(Error::fail(format!(
                        "Unsupported docker option {name} {value}: sharing another container's network is not supported"
                    )));
                }
                _ => RunOption::Network(value),
            }
        }
        "--network-alias" | "--net-alias" => {
            RunOption::NetworkAlias(non_empty(name, words.value(&flag)?)?)
        }
        "-p" | "--publish" => {
            let value = words.value(&flag)?;
            let (port, proto) = value.split_once('/').unwrap_or((&value, "tcp"));
            let valid = port.parse::<u16>().is_ok_and(|p| p > 0) && matches!(proto, "tcp" | "udp");
            if !valid {
                return Err(bad_value(
                    name,
                    &value,
                    "a container port (PORT or PORT/udp), published on a random host port",
                ));
            }
            RunOption::Publish(format!("{port}/{proto}"))
        }
        "--group-add" => RunOption::GroupAdd(non_empty(name, words.value(&flag)?)?),
        "--sysctl" => {
            let (key, value) = key_value(name, &words.value(&flag)?)?;
            RunOption::Sysctl(key, value)
        }
        "--cap-drop" => RunOption::CapDrop(non_empty(name, words.value(&flag)?)?),
        "--cap-add" => {
            let value = non_empty(name, words.value(&flag)?)?;
            require(allowed, OptionClass::Privileged, name, &value)?;
            RunOption::CapAdd(value)
        }
        "--security-opt" => {
            let value = non_empty(name, words.value(&flag)?)?;
            // no-new-privileges only takes privileges away.
            if !matches!(
                value.as_str(),
                "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
            ) {
                require(allowed, OptionClass::Privileged, name, &value)?;
            }
            RunOption::SecurityOpt(value)
        }
        "--privileged" => {
            let on = flag.switch()?;
            if on {
                require(allowed, OptionClass::Privileged, name, "")?;
            }
            RunOption::Privileged(on)
        }
        "--device" => {
            let value = words.value(&flag)?;
            require(allowed, OptionClass::Privileged, name, &value)?;
            RunOption::Device(device(name, &value)?)
        }
        "--device-cgroup-rule" => {
            let value = non_empty(name, words.value(&flag)?)?;
            require(allowed, OptionClass::Privileged, name, &value)?;
            RunOption::DeviceCgroupRule(value)
        }
        "--pid" => RunOption::PidMode(host_only(words.value(&flag)?, &flag, allowed, &[])?),
        "--ipc" => RunOption::IpcMode(host_only(
            words.value(&flag)?,
            &flag,
            allowed,
            &["private", "shareable", "none"],
        )?),
        "--uts" => RunOption::UtsMode(host_only(words.value(&flag)?, &flag, allowed, &[])?),
        "--userns" => RunOption::UsernsMode(host_only(words.value(&flag)?, &flag, allowed, &[])?),
        "--cgroupns" => {
            let value = host_only(words.value(&flag)?, &flag, allowed, &["private"])?;
            RunOption::CgroupnsMode(if value == "host" {
                HostConfigCgroupnsModeEnum::HOST
            } else {
                HostConfigCgroupnsModeEnum::PRIVATE
            })
        }
        "-v" | "--volume" => RunOption::Volume(volume(name, &words.value(&flag)?, allowed)?),
        "--mount" => RunOption::Mount(Box::new(mount(name, &words.value(&flag)?, allowed)?)),
        "--entrypoint" => {
            return Err(Error::fail(format!(
                "Unsupported docker option {name}: berth runs the Procfile command with the image's own entrypoint"
            )));
        }
        name => return Err(unsupported(name)),
    };
    Ok(option)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker_args::BuildOptions;
    use crate::docker_args::fixtures::{
        NONE, applied, applied_with, berth_body, error, host, to_host,
    };

    #[test]
    fn empty_text_gives_empty_options() {
        for text in ["", "  \n\t\n"] {
            let options = RunOptions::parse(text, NONE).unwrap();
            assert!(options.is_empty());
            let mut body = berth_body();
            options.apply(&mut body, &to_host).unwrap();
            assert_eq!(body, berth_body());
            assert_eq!(
                BuildOptions::parse(text, NONE).unwrap(),
                BuildOptions::default()
            );
        }
        assert!(!RunOptions::parse("--init", NONE).unwrap().is_empty());
    }

    #[test]
    fn env_refuses_bare_keys_and_berths_own() {
        assert_eq!(
            error("-e FOO"),
            "Docker option -e FOO needs KEY=VALUE: berth does not pass its own environment through"
        );
        assert!(error("--env =x").contains("needs KEY=VALUE"));
        assert_eq!(
            error("-e PORT=80"),
            "Refused docker option -e PORT=80: berth sets PORT and DYNO itself"
        );
        assert!(error("--env DYNO=x").contains("berth sets PORT and DYNO itself"));
    }

    #[test]
    fn body_fields_are_set() {
        let body = applied(
            "-h web -u 1000:1000 -w /app --stop-signal SIGINT --stop-timeout 30 --hostname=h2",
        );
        assert_eq!(body.hostname.as_deref(), Some("h2"));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert_eq!(body.working_dir.as_deref(), Some("/app"));
        assert_eq!(body.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(body.stop_timeout, Some(30));
        assert!(error("-w app").contains("absolute path"));
        assert!(error("-u=").contains("needs a value"));
    }

    #[test]
    fn dns_and_hosts() {
        let host = host(
            "--add-host db:10.0.0.2 --add-host=gw=host-gateway --add-host v6:[::1] \
             --dns 1.1.1.1 --dns-search example.com --dns-option ndots:2",
        );
        assert_eq!(
            host.extra_hosts.unwrap(),
            vec!["db:10.0.0.2", "gw:host-gateway", "v6:::1"]
        );
        assert_eq!(host.dns.unwrap(), vec!["1.1.1.1"]);
        assert_eq!(host.dns_search.unwrap(), vec!["example.com"]);
        assert_eq!(host.dns_options.unwrap(), vec!["ndots:2"]);
        assert!(error("--add-host db").contains("host:ip"));
        assert!(error("--add-host db:nowhere").contains("host:ip"));
        assert!(error("--dns resolver").contains("an IP address"));
    }

    #[test]
    fn logging_tmpfs_and_switches() {
        let host = host(
            "--log-driver json-file --log-opt max-size=10m --log-opt=max-file=3 \
             --tmpfs /run --tmpfs /tmp:rw,size=64m --init=false --read-only \
             --group-add audio --sysctl net.core.somaxconn=1024 --cap-drop NET_RAW \
             --security-opt no-new-privileges --privileged=false",
        );
        let log = host.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        let config = log.config.unwrap();
        assert_eq!(config["max-size"], "10m");
        assert_eq!(config["max-file"], "3");
        let tmpfs = host.tmpfs.unwrap();
        assert_eq!(tmpfs["/run"], "");
        assert_eq!(tmpfs["/tmp"], "rw,size=64m");
        assert_eq!(host.init, Some(false));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.group_add.unwrap(), vec!["audio"]);
        assert_eq!(host.sysctls.unwrap()["net.core.somaxconn"], "1024");
        assert_eq!(host.cap_drop.unwrap(), vec!["NET_RAW"]);
        assert_eq!(host.security_opt.unwrap(), vec!["no-new-privileges"]);
        assert_eq!(host.privileged, Some(false));
        assert!(error("--read-only=maybe").contains("true or false"));
        assert!(error("--tmpfs run").contains("/path"));
        assert_eq!(
            error("--log-opt max-size"),
            "Docker option --log-opt max-size needs KEY=VALUE"
        );
        assert!(error("--sysctl =1").ends_with("needs KEY=VALUE"));
    }

    #[test]
    fn host_namespaces_need_their_class() {
        for text in [
            "--network host",
            "--net=host",
            "--pid host",
            "--ipc host",
            "--uts host",
            "--userns host",
            "--cgroupns host",
        ] {
            let message = error(text);
            assert!(
                message.ends_with(
                    "(class host-namespaces): allow it with plugin:set --global allowed-docker-options host-namespaces"
                ),
                "{text}: {message}"
            );
        }
        assert_eq!(
            error("--network host"),
            "Refused docker option --network host (class host-namespaces): allow it with plugin:set --global allowed-docker-options host-namespaces"
        );
        let allowed = [OptionClass::HostNamespaces];
        let body = applied_with(
            "--network host --pid host --ipc host --uts host --userns host --cgroupns host",
            &allowed,
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(host.pid_mode.as_deref(), Some("host"));
        assert_eq!(host.ipc_mode.as_deref(), Some("host"));
        assert_eq!(host.uts_mode.as_deref(), Some("host"));
        assert_eq!(host.userns_mode.as_deref(), Some("host"));
        assert_eq!(host.cgroupns_mode, Some(HostConfigCgroupnsModeEnum::HOST));
        assert!(body.networking_config.is_none());
        let message = RunOptions::parse("--network host --network-alias x", &allowed)
            .unwrap_err()
            .to_string();
        assert!(message.contains("cannot be combined"), "{message}");
    }

    #[test]
    fn private_namespaces_need_no_class() {
        let host = host("--ipc private --cgroupns=private");
        assert_eq!(host.ipc_mode.as_deref(), Some("private"));
        assert_eq!(
            host.cgroupns_mode,
            Some(HostConfigCgroupnsModeEnum::PRIVATE)
        );
        assert!(error("--pid container:db").contains("expected host"));
        assert!(error("--ipc container:db").contains("host or private or shareable or none"));
    }

    #[test]
    fn privileged_options_need_their_class() {
        for text in [
            "--privileged",
            "--privileged=true",
            "--cap-add SYS_ADMIN",
            "--security-opt seccomp=unconfined",
            "--device /dev/fuse",
            "--device-cgroup-rule 'c 10:229 rwm'",
        ] {
            let message = error(text);
            assert!(
                message.ends_with(
                    "(class privileged): allow it with plugin:set --global allowed-docker-options privileged"
                ),
                "{text}: {message}"
            );
        }
        assert_eq!(
            error("--privileged"),
            "Refused docker option --privileged (class privileged): allow it with plugin:set --global allowed-docker-options privileged"
        );
        let host = applied_with(
            "--privileged --cap-add SYS_ADMIN --security-opt seccomp=unconfined \
             --device /dev/fuse --device /dev/sda:/dev/xvda:r --device /dev/kvm:rw \
             --device-cgroup-rule 'c 10:229 rwm'",
            &[OptionClass::Privileged],
        )
        .host_config
        .unwrap();
        assert_eq!(host.privileged, Some(true));
        assert_eq!(host.cap_add.unwrap(), vec!["SYS_ADMIN"]);
        assert_eq!(host.security_opt.unwrap(), vec!["seccomp=unconfined"]);
        let device = |on_host: &str, inside: &str, cgroup: &str| DeviceMapping {
            path_on_host: Some(on_host.into()),
            path_in_container: Some(inside.into()),
            cgroup_permissions: Some(cgroup.into()),
        };
        assert_eq!(
            host.devices.unwrap(),
            vec![
                device("/host/dev/fuse", "/dev/fuse", "rwm"),
                device("/host/dev/sda", "/dev/xvda", "r"),
                device("/host/dev/kvm", "/dev/kvm", "rw"),
            ]
        );
        assert_eq!(host.device_cgroup_rules.unwrap(), vec!["c 10:229 rwm"]);
    }

    #[test]
    fn unknown_and_malformed_options_are_refused() {
        // Only a container port is published (on a random host port).
        assert!(error("--publish 80:80").contains("expected a container port"));
        assert!(error("-p=127.0.0.1:80:80").contains("expected a container port"));
        assert_eq!(error("-it"), "Unsupported docker option -it");
        assert!(error("--entrypoint /bin/sh").contains("Procfile command"));
        assert_eq!(
            error("--memory 512m extra"),
            "Unexpected word \"extra\" in docker options: each option starts with - or --"
        );
        assert!(error("--").contains("Unexpected word"));
        assert_eq!(error("-e"), "Docker option -e needs a value");
        assert_eq!(
            error("--init --memory"),
            "Docker option --memory needs a value"
        );
        assert!(error("-e 'A=b").contains("unmatched single quote"));
    }
}
