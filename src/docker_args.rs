//! Plugins' extra `docker run` / `docker build` options — the output of the
//! `docker-args-deploy`, `docker-args-run` and `docker-args-build` triggers
//! (e.g. `-e FOO=bar --label x=y -v data:/data --memory 512m`) — turned into
//! fields of the engine's request.
//!
//! berth never runs the docker CLI, so the text is split into words the way
//! xargs would ([`crate::words::split`]; nothing is evaluated), each option is
//! checked against an allow-list and parsed into a typed value, and only then
//! applied to the container body berth built. An option berth does not know
//! is refused, never dropped. Options that reach beyond the container —
//! privileges, the host's namespaces, host folders — belong to an
//! [`OptionClass`] and are refused unless the admin allowed that class.
//!
//! Both `--opt value` and `--opt=value` are accepted (`-e value` and `-e=value`
//! for short names); switches take no value word but accept `--opt=true|false`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use crate::engine::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, HostConfigCgroupnsModeEnum,
    HostConfigLogConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountTmpfsOptions, MountType, MountVolumeOptions, NetworkingConfig, ResourcesUlimits,
    RestartPolicy, RestartPolicyNameEnum,
};
use crate::error::{Error, Result};

/// An option class an admin can allow
/// (`plugin:set --global allowed-docker-options privileged,host-mounts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionClass {
    /// `--privileged`, `--cap-add`, `--security-opt` (but `no-new-privileges`),
    /// `--device`, `--device-cgroup-rule`.
    Privileged,
    /// `host` as the value of `--network`/`--net`, `--pid`, `--ipc`, `--uts`,
    /// `--userns` or `--cgroupns`.
    HostNamespaces,
    /// Bind mounts of host folders: `-v /src:/dst`, `--volume`,
    /// `--mount type=bind,...`.
    HostMounts,
}

impl OptionClass {
    /// Every class, in the order error messages list them.
    pub const ALL: [OptionClass; 3] = [
        OptionClass::Privileged,
        OptionClass::HostNamespaces,
        OptionClass::HostMounts,
    ];

    /// The name the admin writes.
    pub fn name(self) -> &'static str {
        match self {
            OptionClass::Privileged => "privileged",
            OptionClass::HostNamespaces => "host-namespaces",
            OptionClass::HostMounts => "host-mounts",
        }
    }

    /// Parses the admin's list: names separated by commas and/or blanks;
    /// empty text allows nothing. Repeated names count once.
    pub fn parse_list(text: &str) -> Result<Vec<OptionClass>> {
        let mut classes = Vec::new();
        for name in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|name| !name.is_empty())
        {
            let class = OptionClass::ALL
                .into_iter()
                .find(|class| class.name() == name)
                .ok_or_else(|| {
                    Error::fail(format!(
                        "Unknown docker option class {name}: valid classes are {}",
                        OptionClass::ALL.map(OptionClass::name).join(", ")
                    ))
                })?;
            if !classes.contains(&class) {
                classes.push(class);
            }
        }
        Ok(classes)
    }
}

/// Parsed `docker run` options for a deploy or run container.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunOptions {
    /// In the order given: for an option given twice, the last one wins.
    options: Vec<RunOption>,
}

/// One accepted `docker run` option, validated, not yet applied.
#[derive(Debug, Clone, PartialEq)]
enum RunOption {
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

/// A `-v source:target[:mode]` mount.
#[derive(Debug, Clone, PartialEq)]
struct Volume {
    source: VolumeSource,
    target: String,
    mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum VolumeSource {
    /// A host folder, as berth sees it (translated on apply).
    Host(PathBuf),
    /// A named volume.
    Named(String),
}

impl RunOptions {
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
        to_host: &dyn Fn(&Path) -> Result<PathBuf>,
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

/// Parsed `docker build` options (`docker-args-build`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BuildOptions {
    /// `--build-arg K=V`, in the order given.
    pub build_args: Vec<(String, String)>,
    /// `--label K=V` (or `--label K`: empty value), in the order given.
    pub labels: Vec<(String, String)>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: always pull the base images.
    pub pull: bool,
    /// `--network NAME` for the build's `RUN` steps (`host` needs the
    /// host-namespaces class).
    pub network: Option<String>,
    /// `--target STAGE`: the Dockerfile stage to build.
    pub target: Option<String>,
}

impl BuildOptions {
    /// Parses a `docker-args-build` trigger's output; `allowed` are the
    /// admin-allowed classes.
    pub fn parse(text: &str, allowed: &[OptionClass]) -> Result<BuildOptions> {
        let mut words = Words::new(text)?;
        let mut options = BuildOptions::default();
        while let Some(flag) = words.next_flag()? {
            match flag.name.as_str() {
                "--build-arg" => {
                    let value = words.value(&flag)?;
                    options.build_args.push(variable(&flag.name, &value)?);
                }
                "-l" | "--label" => {
                    let value = words.value(&flag)?;
                    options.labels.push(label(&flag.name, &value)?);
                }
                "--no-cache" => options.no_cache = flag.switch()?,
                "--pull" => options.pull = flag.switch()?,
                "--network" | "--net" => {
                    let value = non_empty(&flag.name, words.value(&flag)?)?;
                    if value == "host" {
                        require(allowed, OptionClass::HostNamespaces, &flag.name, &value)?;
                    } else if value.starts_with("container:") {
                        return Err(bad_value(&flag.name, &value, "a network name"));
                    }
                    options.network = Some(value);
                }
                "--target" => options.target = Some(non_empty(&flag.name, words.value(&flag)?)?),
                name => return Err(unsupported(name)),
            }
        }
        Ok(options)
    }
}

/// An option word as given: `--name`, or `--name=value` split at the `=`.
struct Flag {
    name: String,
    inline: Option<String>,
}

impl Flag {
    /// The value of a switch: `--opt` is true, `--opt=false` false.
    fn switch(&self) -> Result<bool> {
        match self.inline.as_deref() {
            None => Ok(true),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(bad_value(&self.name, other, "true or false")),
        }
    }
}

/// The words of a trigger's output, consumed option by option.
struct Words {
    words: std::vec::IntoIter<String>,
}

impl Words {
    fn new(text: &str) -> Result<Words> {
        let words = crate::words::split(text)
            .map_err(|e| Error::fail(format!("Invalid docker options {text:?}: {e}")))?;
        Ok(Words {
            words: words.into_iter(),
        })
    }

    fn next_flag(&mut self) -> Result<Option<Flag>> {
        let Some(word) = self.words.next() else {
            return Ok(None);
        };
        if !word.starts_with('-') || word == "-" || word == "--" {
            return Err(Error::fail(format!(
                "Unexpected word {word:?} in docker options: each option starts with - or --"
            )));
        }
        Ok(Some(match word.split_once('=') {
            Some((name, value)) => Flag {
                name: name.to_string(),
                inline: Some(value.to_string()),
            },
            None => Flag {
                name: word,
                inline: None,
            },
        }))
    }

    /// The option's value: after its `=`, else the next word, whatever it is
    /// (`--memory-swap -1`).
    fn value(&mut self, flag: &Flag) -> Result<String> {
        match &flag.inline {
            Some(value) => Ok(value.clone()),
            None => self
                .words
                .next()
                .ok_or_else(|| Error::fail(format!("Docker option {} needs a value", flag.name))),
        }
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

fn apply_run_option(
    option: &RunOption,
    body: &mut ContainerCreateBody,
    to_host: &dyn Fn(&Path) -> Result<PathBuf>,
) -> Result<()> {
    match option {
        RunOption::Env(key, value) => {
            let env = body.env.get_or_insert_with(Vec::new);
            env.retain(|entry| entry.split_once('=').map_or(entry.as_str(), |(k, _)| k) != key);
            env.push(format!("{key}={value}"));
        }
        RunOption::Label(key, value) => {
            insert(&mut body.labels, key, value);
        }
        RunOption::Hostname(name) => body.hostname = Some(name.clone()),
        RunOption::User(user) => body.user = Some(user.clone()),
        RunOption::Workdir(dir) => body.working_dir = Some(dir.clone()),
        RunOption::StopSignal(signal) => body.stop_signal = Some(signal.clone()),
        RunOption::StopTimeout(seconds) => body.stop_timeout = Some(*seconds),
        option => apply_host_option(option, host_config(body), to_host)?,
    }
    Ok(())
}

fn apply_host_option(
    option: &RunOption,
    host: &mut HostConfig,
    to_host: &dyn Fn(&Path) -> Result<PathBuf>,
) -> Result<()> {
    match option {
        RunOption::AddHost(entry) => push(&mut host.extra_hosts, entry.clone()),
        RunOption::Dns(ip) => push(&mut host.dns, ip.clone()),
        RunOption::DnsSearch(domain) => push(&mut host.dns_search, domain.clone()),
        RunOption::DnsOption(option) => push(&mut host.dns_options, option.clone()),
        RunOption::Memory(bytes) => host.memory = Some(*bytes),
        RunOption::MemoryReservation(bytes) => host.memory_reservation = Some(*bytes),
        RunOption::MemorySwap(bytes) => host.memory_swap = Some(*bytes),
        RunOption::NanoCpus(nanos) => host.nano_cpus = Some(*nanos),
        RunOption::CpuShares(shares) => host.cpu_shares = Some(*shares),
        RunOption::ShmSize(bytes) => host.shm_size = Some(*bytes),
        RunOption::PidsLimit(limit) => host.pids_limit = Some(*limit),
        RunOption::Tmpfs(path, options) => insert(&mut host.tmpfs, path, options),
        RunOption::Ulimit(ulimit) => {
            let ulimits = host.ulimits.get_or_insert_with(Vec::new);
            ulimits.retain(|u| u.name != ulimit.name);
            ulimits.push(ulimit.clone());
        }
        RunOption::LogDriver(driver) => {
            host.log_config
                .get_or_insert_with(HostConfigLogConfig::default)
                .typ = Some(driver.clone());
        }
        RunOption::LogOpt(key, value) => insert(
            &mut host
                .log_config
                .get_or_insert_with(HostConfigLogConfig::default)
                .config,
            key,
            value,
        ),
        RunOption::Init(on) => host.init = Some(*on),
        RunOption::ReadOnly(on) => host.readonly_rootfs = Some(*on),
        RunOption::Restart(policy) => host.restart_policy = Some(policy.clone()),
        RunOption::NetworkMode(mode) => host.network_mode = Some(mode.clone()),
        RunOption::GroupAdd(group) => push(&mut host.group_add, group.clone()),
        RunOption::Sysctl(key, value) => insert(&mut host.sysctls, key, value),
        RunOption::CapAdd(cap) => push(&mut host.cap_add, cap.clone()),
        RunOption::CapDrop(cap) => push(&mut host.cap_drop, cap.clone()),
        RunOption::SecurityOpt(opt) => push(&mut host.security_opt, opt.clone()),
        RunOption::Privileged(on) => host.privileged = Some(*on),
        RunOption::Device(device) => {
            let path = device.path_on_host.as_deref().unwrap_or_default();
            let mut device = device.clone();
            device.path_on_host = Some(host_path(to_host, Path::new(path))?);
            push(&mut host.devices, device);
        }
        RunOption::DeviceCgroupRule(rule) => push(&mut host.device_cgroup_rules, rule.clone()),
        RunOption::PidMode(mode) => host.pid_mode = Some(mode.clone()),
        RunOption::IpcMode(mode) => host.ipc_mode = Some(mode.clone()),
        RunOption::UtsMode(mode) => host.uts_mode = Some(mode.clone()),
        RunOption::UsernsMode(mode) => host.userns_mode = Some(mode.clone()),
        RunOption::CgroupnsMode(mode) => host.cgroupns_mode = Some(*mode),
        RunOption::Volume(volume) => {
            let source = match &volume.source {
                VolumeSource::Host(path) => host_path(to_host, path)?,
                VolumeSource::Named(name) => name.clone(),
            };
            let bind = match &volume.mode {
                Some(mode) => format!("{source}:{}:{mode}", volume.target),
                None => format!("{source}:{}", volume.target),
            };
            push(&mut host.binds, bind);
        }
        RunOption::Mount(mount) => {
            let mut mount = Mount::clone(mount);
            if mount.typ == Some(MountType::BIND) {
                let source = mount.source.as_deref().unwrap_or_default();
                mount.source = Some(host_path(to_host, Path::new(source))?);
            }
            push(&mut host.mounts, mount);
        }
        RunOption::Env(..)
        | RunOption::Label(..)
        | RunOption::Hostname(_)
        | RunOption::User(_)
        | RunOption::Workdir(_)
        | RunOption::StopSignal(_)
        | RunOption::StopTimeout(_)
        | RunOption::Network(_)
        | RunOption::NetworkAlias(_) => {
            unreachable!("applied to the container body, not its host config")
        }
    }
    Ok(())
}

/// Joins `networks` besides the body's own network (the engine attaches a
/// container only to the networks of its endpoints once any is given, so
/// berth's network gets an endpoint too) and gives every endpoint `aliases`
/// (but on the default bridge, where the engine refuses them).
fn join_networks(
    body: &mut ContainerCreateBody,
    networks: &[&str],
    aliases: &[&str],
) -> Result<()> {
    let mode = body
        .host_config
        .as_ref()
        .and_then(|host| host.network_mode.clone())
        .unwrap_or_default();
    let own = match mode.as_str() {
        "" | "default" => "bridge",
        "host" | "none" => {
            return Err(Error::fail(format!(
                "Docker options --network NAME and --network-alias need the container on a user-defined network, not {mode}"
            )));
        }
        m if m.starts_with("container:") => {
            return Err(Error::fail(
                "Docker options --network NAME and --network-alias cannot be used when sharing another container's network",
            ));
        }
        m => m,
    };
    let endpoints = body
        .networking_config
        .get_or_insert_with(NetworkingConfig::default)
        .endpoints_config
        .get_or_insert_with(HashMap::new);
    for network in std::iter::once(own).chain(networks.iter().copied()) {
        let endpoint = endpoints.entry(network.to_string()).or_default();
        // The engine refuses aliases on the default bridge network.
        if aliases.is_empty() || network == "bridge" {
            continue;
        }
        let known = endpoint.aliases.get_or_insert_with(Vec::new);
        for alias in aliases {
            if !known.iter().any(|a| a == alias) {
                known.push(alias.to_string());
            }
        }
    }
    Ok(())
}

fn host_config(body: &mut ContainerCreateBody) -> &mut HostConfig {
    body.host_config.get_or_insert_with(HostConfig::default)
}

fn push<T>(list: &mut Option<Vec<T>>, item: T) {
    list.get_or_insert_with(Vec::new).push(item);
}

fn insert(map: &mut Option<HashMap<String, String>>, key: &str, value: &str) {
    map.get_or_insert_with(HashMap::new)
        .insert(key.to_string(), value.to_string());
}

fn host_path(to_host: &dyn Fn(&Path) -> Result<PathBuf>, path: &Path) -> Result<String> {
    let host = to_host(path)?;
    host.to_str().map(str::to_string).ok_or_else(|| {
        Error::fail(format!(
            "Unable to mount {}: the host path is not UTF-8",
            host.display()
        ))
    })
}

/// Refuses an option of a class the admin has not allowed.
fn require(allowed: &[OptionClass], class: OptionClass, name: &str, value: &str) -> Result<()> {
    if allowed.contains(&class) {
        return Ok(());
    }
    let option = if value.is_empty() {
        name.to_string()
    } else {
        format!("{name} {value}")
    };
    let class = class.name();
    Err(Error::fail(format!(
        "Refused docker option {option} (class {class}): allow it with plugin:set --global allowed-docker-options {class}"
    )))
}

fn unsupported(name: &str) -> Error {
    Error::fail(format!("Unsupported docker option {name}"))
}

fn bad_value(name: &str, value: &str, expected: &str) -> Error {
    Error::fail(format!(
        "Invalid value for docker option {name}: {value:?} (expected {expected})"
    ))
}

fn non_empty(name: &str, value: String) -> Result<String> {
    if value.is_empty() {
        return Err(Error::fail(format!("Docker option {name} needs a value")));
    }
    Ok(value)
}

/// `KEY=VALUE`.
fn key_value(name: &str, text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(Error::fail(format!(
            "Docker option {name} {text} needs KEY=VALUE"
        ))),
    }
}

/// `KEY=VALUE` for `-e` and `--build-arg`: a bare `KEY` (docker's "take it
/// from my environment") is refused, berth has no environment to give.
fn variable(name: &str, text: &str) -> Result<(String, String)> {
    if !text.contains('=') {
        return Err(Error::fail(format!(
            "Docker option {name} {text} needs KEY=VALUE: berth does not pass its own environment through"
        )));
    }
    key_value(name, text)
}

/// `KEY=VALUE`, or `KEY` for an empty value; berth's own labels
/// (`com.dokku.*`, `dokku`) are refused: berth finds its containers by them.
fn label(name: &str, text: &str) -> Result<(String, String)> {
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    if key.is_empty() {
        return Err(bad_value(name, text, "KEY=VALUE"));
    }
    if key == "dokku" || key.starts_with("com.dokku.") {
        return Err(Error::fail(format!(
            "Refused docker option {name} {text}: the labels dokku and com.dokku.* are berth's own"
        )));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `host:ip` or `host=ip` → the engine's `host:ip`; the IP may be
/// `host-gateway` or a bracketed IPv6 address.
fn extra_host(name: &str, text: &str) -> Result<String> {
    let (host, ip) = text
        .split_once('=')
        .or_else(|| text.split_once(':'))
        .ok_or_else(|| bad_value(name, text, "host:ip"))?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|ip| ip.strip_suffix(']'))
        .unwrap_or(ip);
    if host.is_empty() || (ip != "host-gateway" && ip.parse::<IpAddr>().is_err()) {
        return Err(bad_value(name, text, "host:ip"));
    }
    Ok(format!("{host}:{ip}"))
}

/// An integer no smaller than `min`.
fn integer(name: &str, text: &str, min: i64) -> Result<i64> {
    match text.parse::<i64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(bad_value(
            name,
            text,
            &format!("an integer of at least {min}"),
        )),
    }
}

/// A size in bytes, as docker's `RAMInBytes`: a number (fractions allowed)
/// and an optional unit b, k, m, g, t or p (powers of 1024, any case,
/// optionally followed by `ib`/`b`): `512m`, `1.5g`, `64MiB`, `1024`.
fn size(name: &str, text: &str) -> Result<i64> {
    parse_size(text).ok_or_else(|| bad_value(name, text, "a size such as 512m or 1.5g"))
}

fn parse_size(text: &str) -> Option<i64> {
    let end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    if whole.is_empty() || fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let (multiplier, rest) = match unit.chars().next() {
        Some('k') => (1u64 << 10, &unit[1..]),
        Some('m') => (1 << 20, &unit[1..]),
        Some('g') => (1 << 30, &unit[1..]),
        Some('t') => (1 << 40, &unit[1..]),
        Some('p') => (1 << 50, &unit[1..]),
        _ => (1, unit.as_str()),
    };
    let rest = if multiplier > 1 {
        rest.strip_prefix('i').unwrap_or(rest)
    } else {
        rest
    };
    if !matches!(rest, "" | "b") {
        return None;
    }
    let bytes = number.parse::<f64>().ok()? * multiplier as f64;
    (bytes.is_finite() && bytes < i64::MAX as f64).then_some(bytes as i64)
}

/// `--cpus 1.5` → 1 500 000 000 nano-CPUs; at most nine decimals, as docker.
fn nano_cpus(name: &str, text: &str) -> Result<i64> {
    let invalid = || bad_value(name, text, "a number of CPUs such as 0.5 or 2");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(invalid());
    }
    if fraction.len() > 9 {
        return Err(bad_value(name, text, "at most nine decimals"));
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: i64 = format!("{fraction:0<9}").parse().map_err(|_| invalid())?;
    whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction))
        .ok_or_else(invalid)
}

/// `name=soft[:hard]` (hard defaults to soft; -1 is unlimited).
fn ulimit(name: &str, text: &str) -> Result<ResourcesUlimits> {
    const NAMES: [&str; 15] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let invalid = || bad_value(name, text, "name=soft[:hard], e.g. nofile=1024:2048");
    let (limit, values) = text.split_once('=').ok_or_else(invalid)?;
    if !NAMES.contains(&limit) {
        return Err(bad_value(
            name,
            text,
            &format!("one of the limits {}", NAMES.join(", ")),
        ));
    }
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let parse = |n: &str| match n.parse::<i64>() {
        Ok(n) if n >= -1 => Ok(n),
        _ => Err(invalid()),
    };
    let (soft, hard) = (parse(soft)?, parse(hard)?);
    let unlimited = |n: i64| if n == -1 { i64::MAX } else { n };
    if unlimited(soft) > unlimited(hard) {
        return Err(bad_value(
            name,
            text,
            "a soft limit no greater than the hard limit",
        ));
    }
    Ok(ResourcesUlimits {
        name: Some(limit.to_string()),
        soft: Some(soft),
        hard: Some(hard),
    })
}

/// `no`, `always`, `unless-stopped` or `on-failure[:max-retries]`.
fn restart_policy(name: &str, text: &str) -> Result<RestartPolicy> {
    let invalid = || bad_value(name, text, "no, always, unless-stopped or on-failure[:N]");
    let (policy, retries) = match text.split_once(':') {
        Some((policy, retries)) => (policy, Some(retries)),
        None => (text, None),
    };
    let policy = match policy {
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return Err(invalid()),
    };
    let maximum_retry_count = match retries {
        None => None,
        Some(n) if policy == RestartPolicyNameEnum::ON_FAILURE => Some(
            n.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(invalid)?,
        ),
        Some(_) => return Err(invalid()),
    };
    Ok(RestartPolicy {
        name: Some(policy),
        maximum_retry_count,
    })
}

/// The value of `--pid`/`--ipc`/`--uts`/`--userns`/`--cgroupns`: `host`
/// (class host-namespaces) or one of `safe`.
fn host_only(value: String, flag: &Flag, allowed: &[OptionClass], safe: &[&str]) -> Result<String> {
    if value == "host" {
        require(allowed, OptionClass::HostNamespaces, &flag.name, &value)?;
        return Ok(value);
    }
    if safe.contains(&value.as_str()) {
        return Ok(value);
    }
    let expected = std::iter::once("host")
        .chain(safe.iter().copied())
        .collect::<Vec<_>>()
        .join(" or ");
    Err(bad_value(&flag.name, &value, &expected))
}

/// `--device /dev/x[:/dev/y][:rwm]`, as docker's CLI reads it.
fn device(name: &str, text: &str) -> Result<DeviceMapping> {
    let invalid = || bad_value(name, text, "/dev/host[:/dev/container][:permissions]");
    let permissions = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, cgroup) = match parts[..] {
        [source] => (source, source, "rwm"),
        [source, p] if permissions(p) => (source, source, p),
        [source, target] => (source, target, "rwm"),
        [source, target, p] if permissions(p) => (source, target, p),
        _ => return Err(invalid()),
    };
    if !source.starts_with('/') || !target.starts_with('/') {
        return Err(invalid());
    }
    Ok(DeviceMapping {
        path_on_host: Some(source.to_string()),
        path_in_container: Some(target.to_string()),
        cgroup_permissions: Some(cgroup.to_string()),
    })
}

/// `-v source:target[:mode]`: a host folder (absolute path, class
/// host-mounts) or a named volume. Anonymous volumes (`-v /data`) are
/// refused: every deploy would leave one behind.
fn volume(name: &str, text: &str, allowed: &[OptionClass]) -> Result<Volume> {
    const MODES: [&str; 14] = [
        "ro",
        "rw",
        "z",
        "Z",
        "nocopy",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "private",
        "rprivate",
        "consistent",
        "cached",
        "delegated",
    ];
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts[..] {
        [target] if target.starts_with('/') => {
            return Err(Error::fail(format!(
                "Unsupported docker option {name} {text}: anonymous volumes pile up with every deploy; name the volume (NAME:{target})"
            )));
        }
        [source, target] => (source, target, None),
        [source, target, mode] => (source, target, Some(mode)),
        _ => return Err(bad_value(name, text, "source:target[:mode]")),
    };
    if !target.starts_with('/') {
        return Err(bad_value(name, text, "an absolute target path"));
    }
    if let Some(mode) = mode
        && mode.split(',').any(|m| !MODES.contains(&m))
    {
        return Err(bad_value(
            name,
            text,
            &format!("modes among {}", MODES.join(",")),
        ));
    }
    Ok(Volume {
        source: mount_source(name, text, source, allowed)?,
        target: target.to_string(),
        mode: mode.map(str::to_string),
    })
}

/// A mount source: an absolute host path (class host-mounts) or a volume
/// name.
fn mount_source(
    name: &str,
    text: &str,
    source: &str,
    allowed: &[OptionClass],
) -> Result<VolumeSource> {
    if source.starts_with('/') {
        require(allowed, OptionClass::HostMounts, name, text)?;
        let path = PathBuf::from(source);
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(bad_value(name, text, "a host path without '..'"));
        }
        return Ok(VolumeSource::Host(path));
    }
    let mut chars = source.chars();
    let valid_name = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && source.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid_name {
        return Err(bad_value(
            name,
            text,
            "a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+) or an absolute host path",
        ));
    }
    Ok(VolumeSource::Named(source.to_string()))
}

/// `--mount type=bind|volume|tmpfs,source=...,target=...[,readonly]` and the
/// keys `bind-propagation`, `volume-nocopy`, `tmpfs-size`, `tmpfs-mode`.
fn mount(name: &str, text: &str, allowed: &[OptionClass]) -> Result<Mount> {
    let mut typ = MountType::VOLUME;
    let mut source = None;
    let mut target = None;
    let mut read_only = None;
    let mut propagation = None;
    let mut no_copy = None;
    let mut tmpfs_size = None;
    let mut tmpfs_mode = None;
    let flag_value = |key: &str, value: Option<&str>| {
        Flag {
            name: format!("{name} {key}"),
            inline: value.map(str::to_string),
        }
        .switch()
    };
    for field in text.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (field, None),
        };
        let needed = || value.ok_or_else(|| bad_value(name, text, &format!("{key}=VALUE")));
        match key {
            "type" => {
                typ = match needed()? {
                    "bind" => MountType::BIND,
                    "volume" => MountType::VOLUME,
                    "tmpfs" => MountType::TMPFS,
                    _ => return Err(bad_value(name, text, "type=bind, volume or tmpfs")),
                }
            }
            "source" | "src" => source = Some(needed()?),
            "target" | "destination" | "dst" => target = Some(needed()?),
            "readonly" | "ro" => read_only = Some(flag_value(key, value)?),
            "bind-propagation" => {
                propagation = Some(
                    needed()?
                        .parse::<MountBindOptionsPropagationEnum>()
                        .map_err(|_| {
                            bad_value(name, text, "a bind propagation such as rprivate")
                        })?,
                )
            }
            "volume-nocopy" => no_copy = Some(flag_value(key, value)?),
            "tmpfs-size" => tmpfs_size = Some(size(name, needed()?)?),
            "tmpfs-mode" => {
                tmpfs_mode = Some(
                    i64::from_str_radix(needed()?, 8)
                        .map_err(|_| bad_value(name, text, "an octal tmpfs-mode such as 1777"))?,
                )
            }
            _ => {
                return Err(Error::fail(format!(
                    "Unsupported key {key} in docker option {name} {text}"
                )));
            }
        }
    }
    let target = target
        .filter(|t| t.starts_with('/'))
        .ok_or_else(|| bad_value(name, text, "target=/absolute/path"))?;
    let misplaced = |key: &str, used: bool, owner: MountType| {
        if used && typ != owner {
            Err(Error::fail(format!(
                "Invalid docker option {name} {text}: {key} needs type={owner}"
            )))
        } else {
            Ok(())
        }
    };
    misplaced("bind-propagation", propagation.is_some(), MountType::BIND)?;
    misplaced("volume-nocopy", no_copy.is_some(), MountType::VOLUME)?;
    misplaced(
        "tmpfs-size/tmpfs-mode",
        tmpfs_size.is_some() || tmpfs_mode.is_some(),
        MountType::TMPFS,
    )?;
    let source = match (typ, source) {
        (MountType::TMPFS, None) => None,
        (MountType::TMPFS, Some(_)) => {
            return Err(bad_value(name, text, "no source for type=tmpfs"));
        }
        (_, None) => {
            return Err(bad_value(
                name,
                text,
                "source=... (anonymous volumes are refused)",
            ));
        }
        (MountType::BIND, Some(source)) if !source.starts_with('/') => {
            return Err(bad_value(
                name,
                text,
                "an absolute source path for type=bind",
            ));
        }
        (MountType::VOLUME, Some(source)) if source.starts_with('/') => {
            return Err(bad_value(
                name,
                text,
                "a volume name as source for type=volume",
            ));
        }
        (_, Some(source)) => match mount_source(name, text, source, allowed)? {
            VolumeSource::Host(path) => Some(path.to_string_lossy().into_owned()),
            VolumeSource::Named(volume) => Some(volume),
        },
    };
    Ok(Mount {
        target: Some(target.to_string()),
        source,
        typ: Some(typ),
        read_only,
        bind_options: propagation.map(|propagation| MountBindOptions {
            propagation: Some(propagation),
            ..Default::default()
        }),
        volume_options: no_copy.map(|no_copy| MountVolumeOptions {
            no_copy: Some(no_copy),
            ..Default::default()
        }),
        tmpfs_options: (tmpfs_size.is_some() || tmpfs_mode.is_some()).then(|| MountTmpfsOptions {
            size_bytes: tmpfs_size,
            mode: tmpfs_mode,
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: &[OptionClass] = &[];

    /// berth's body as the scheduler builds it.
    fn berth_body() -> ContainerCreateBody {
        ContainerCreateBody {
            env: Some(vec!["A=1".into(), "PORT=5000".into(), "DYNO=web.1".into()]),
            labels: Some(HashMap::from([(
                "com.dokku.app-name".to_string(),
                "demo".to_string(),
            )])),
            host_config: Some(HostConfig {
                init: Some(true),
                network_mode: Some("berth".into()),
                binds: Some(vec!["/home/dokku/demo/data:/data".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Marks translated host paths so a test sees the translation happened.
    fn to_host(path: &Path) -> Result<PathBuf> {
        Ok(Path::new("/host").join(path.strip_prefix("/").expect("absolute")))
    }

    fn applied_with(text: &str, allowed: &[OptionClass]) -> ContainerCreateBody {
        let mut body = berth_body();
        RunOptions::parse(text, allowed)
            .expect("parses")
            .apply(&mut body, &to_host)
            .expect("applies");
        body
    }

    fn applied(text: &str) -> ContainerCreateBody {
        applied_with(text, NONE)
    }

    fn host(text: &str) -> HostConfig {
        applied(text).host_config.expect("host config")
    }

    fn error(text: &str) -> String {
        RunOptions::parse(text, NONE)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn option_classes_parse_from_the_admin_list() {
        assert_eq!(OptionClass::parse_list("").unwrap(), vec![]);
        assert_eq!(OptionClass::parse_list(" , ").unwrap(), vec![]);
        assert_eq!(
            OptionClass::parse_list("privileged,host-mounts host-namespaces, privileged").unwrap(),
            vec![
                OptionClass::Privileged,
                OptionClass::HostMounts,
                OptionClass::HostNamespaces
            ]
        );
        assert_eq!(
            OptionClass::parse_list("privileged,root")
                .unwrap_err()
                .to_string(),
            "Unknown docker option class root: valid classes are privileged, host-namespaces, host-mounts"
        );
        for class in OptionClass::ALL {
            assert_eq!(OptionClass::parse_list(class.name()).unwrap(), vec![class]);
        }
    }

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
    fn env_replaces_config_vars_and_keeps_quoted_spaces() {
        let body = applied("-e A=2 --env \"B=b c\"\n--env=C=x=y -e=D=");
        assert_eq!(
            body.env.unwrap(),
            vec!["PORT=5000", "DYNO=web.1", "A=2", "B=b c", "C=x=y", "D="]
        );
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
    fn labels_add_to_berths_but_never_replace_them() {
        let labels = applied("-l a=b --label c --label=d=e=f").labels.unwrap();
        assert_eq!(labels["com.dokku.app-name"], "demo");
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c"], "");
        assert_eq!(labels["d"], "e=f");
        assert!(error("--label com.dokku.app-name=x").contains("berth's own"));
        assert!(error("-l dokku").contains("berth's own"));
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
    fn resources() {
        let host = host(
            "-m 512m --memory-reservation 256M --memory-swap -1 --cpus 1.5 -c 512 \
             --shm-size=1g --pids-limit 100 --ulimit nofile=1024:2048 --ulimit nproc=64",
        );
        assert_eq!(host.memory, Some(512 << 20));
        assert_eq!(host.memory_reservation, Some(256 << 20));
        assert_eq!(host.memory_swap, Some(-1));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.cpu_shares, Some(512));
        assert_eq!(host.shm_size, Some(1 << 30));
        assert_eq!(host.pids_limit, Some(100));
        assert_eq!(
            host.ulimits.unwrap(),
            vec![
                ResourcesUlimits {
                    name: Some("nofile".into()),
                    soft: Some(1024),
                    hard: Some(2048)
                },
                ResourcesUlimits {
                    name: Some("nproc".into()),
                    soft: Some(64),
                    hard: Some(64)
                }
            ]
        );
        assert_eq!(self::host("--memory-swap 1g").memory_swap, Some(1 << 30));
        assert!(error("--ulimit nofile=2048:1024").contains("no greater than"));
        assert!(error("--ulimit files=1").contains("one of the limits"));
        assert!(error("--cpus 1.0000000001").contains("nine decimals"));
        assert!(error("--cpus two").contains("number of CPUs"));
        assert!(error("-c -1").contains("integer"));
    }

    #[test]
    fn sizes_follow_docker() {
        let cases = [
            ("1024", 1024),
            ("0", 0),
            ("10b", 10),
            ("32k", 32 << 10),
            ("32K", 32 << 10),
            ("32kb", 32 << 10),
            ("32KiB", 32 << 10),
            ("512m", 512 << 20),
            ("512 MB", 512 << 20),
            ("1g", 1 << 30),
            ("1.5g", 3 << 29),
            ("0.5m", 1 << 19),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for text in [
            "", "m", "-1", "1.", ".5", "1.2.3", "12x", "1gg", "1 g b", "1bb",
        ] {
            assert_eq!(parse_size(text), None, "{text}");
        }
        assert_eq!(
            error("--memory 12x"),
            "Invalid value for docker option --memory: \"12x\" (expected a size such as 512m or 1.5g)"
        );
    }

    #[test]
    fn cpus_become_nano_cpus() {
        for (text, nanos) in [
            ("1", 1_000_000_000),
            ("0.5", 500_000_000),
            (".25", 250_000_000),
            ("2.000000001", 2_000_000_001),
            ("0", 0),
        ] {
            assert_eq!(nano_cpus("--cpus", text).unwrap(), nanos, "{text}");
        }
        for text in ["", ".", "-1", "1e3", "1.5.1", "99999999999999999"] {
            assert!(nano_cpus("--cpus", text).is_err(), "{text}");
        }
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
    fn restart_policies() {
        let policy = |text: &str| host(text).restart_policy.unwrap();
        assert_eq!(
            policy("--restart on-failure:5"),
            RestartPolicy {
                name: Some(RestartPolicyNameEnum::ON_FAILURE),
                maximum_retry_count: Some(5)
            }
        );
        assert_eq!(
            policy("--restart=unless-stopped").name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        assert_eq!(
            policy("--restart always").name,
            Some(RestartPolicyNameEnum::ALWAYS)
        );
        assert_eq!(policy("--restart no").name, Some(RestartPolicyNameEnum::NO));
        assert!(error("--restart always:3").contains("on-failure[:N]"));
        assert!(error("--restart sometimes").contains("on-failure[:N]"));
    }

    #[test]
    fn networks_join_besides_berths() {
        let body = applied("--network backend --net=cache --network-alias api");
        assert_eq!(
            body.host_config.as_ref().unwrap().network_mode.as_deref(),
            Some("berth")
        );
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        let mut names: Vec<&String> = endpoints.keys().collect();
        names.sort();
        assert_eq!(names, ["backend", "berth", "cache"]);
        for endpoint in endpoints.values() {
            assert_eq!(endpoint.aliases.as_deref(), Some(&["api".to_string()][..]));
        }
        let endpoints = applied("--network backend")
            .networking_config
            .unwrap()
            .endpoints_config
            .unwrap();
        assert_eq!(endpoints.len(), 2);
        assert!(endpoints.values().all(|e| e.aliases.is_none()));
        // Without a user-defined network the container keeps the default
        // bridge, where the engine takes no aliases.
        let mut body = ContainerCreateBody::default();
        RunOptions::parse("--network backend --network-alias api", NONE)
            .unwrap()
            .apply(&mut body, &to_host)
            .unwrap();
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(endpoints["bridge"].aliases, None);
        assert_eq!(endpoints["backend"].aliases, Some(vec!["api".to_string()]));
        assert!(error("--network none").contains("berth's network"));
        assert!(error("--network container:db").contains("another container"));
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
    fn host_binds_need_their_class_and_go_through_to_host() {
        assert_eq!(
            error("-v /:/host"),
            "Refused docker option -v /:/host (class host-mounts): allow it with plugin:set --global allowed-docker-options host-mounts"
        );
        assert!(error("--volume=/srv:/srv:ro").contains("class host-mounts"));
        assert!(error("--mount type=bind,source=/srv,target=/srv").contains("class host-mounts"));
        let allowed = [OptionClass::HostMounts];
        let host = applied_with(
            "-v /:/host --volume=/srv/data:/data:ro,rslave \
             --mount type=bind,src=/srv/x,dst=/x,readonly,bind-propagation=rshared",
            &allowed,
        )
        .host_config
        .unwrap();
        assert_eq!(
            host.binds.unwrap(),
            vec![
                "/home/dokku/demo/data:/data",
                "/host/:/host",
                "/host/srv/data:/data:ro,rslave"
            ]
        );
        assert_eq!(
            host.mounts.unwrap(),
            vec![Mount {
                target: Some("/x".into()),
                source: Some("/host/srv/x".into()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                bind_options: Some(MountBindOptions {
                    propagation: Some(MountBindOptionsPropagationEnum::RSHARED),
                    ..Default::default()
                }),
                ..Default::default()
            }]
        );
        let refused = |text: &str| RunOptions::parse(text, &allowed).unwrap_err().to_string();
        assert!(refused("-v /srv/../etc:/etc").contains("without '..'"));
        assert!(refused("-v /srv:data").contains("absolute target"));
        assert!(refused("-v /srv:/srv:rx").contains("modes among"));
        assert!(refused("-v ./srv:/srv").contains("volume name"));
        assert!(refused("--mount type=bind,src=srv,dst=/srv").contains("absolute source"));
    }

    #[test]
    fn to_host_failures_stop_apply() {
        let options = RunOptions::parse("-v /srv:/srv", &[OptionClass::HostMounts]).unwrap();
        let refuse = |_: &Path| -> Result<PathBuf> { Err(Error::fail("unknown host root")) };
        let mut body = berth_body();
        let message = options.apply(&mut body, &refuse).unwrap_err().to_string();
        assert_eq!(message, "unknown host root");
    }

    #[test]
    fn named_volumes_and_tmpfs_mounts_need_no_class() {
        let host = host(
            "-v data:/data -v cache_1:/cache:ro --mount source=db,target=/db,volume-nocopy \
             --mount type=tmpfs,dst=/scratch,tmpfs-size=64m,tmpfs-mode=1777",
        );
        assert_eq!(
            host.binds.unwrap(),
            vec![
                "/home/dokku/demo/data:/data",
                "data:/data",
                "cache_1:/cache:ro"
            ]
        );
        assert_eq!(
            host.mounts.unwrap(),
            vec![
                Mount {
                    target: Some("/db".into()),
                    source: Some("db".into()),
                    typ: Some(MountType::VOLUME),
                    volume_options: Some(MountVolumeOptions {
                        no_copy: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Mount {
                    target: Some("/scratch".into()),
                    typ: Some(MountType::TMPFS),
                    tmpfs_options: Some(MountTmpfsOptions {
                        size_bytes: Some(64 << 20),
                        mode: Some(0o1777),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ]
        );
        assert!(error("-v /data").contains("anonymous volumes"));
        assert!(error("--mount target=/data").contains("anonymous volumes"));
        assert!(error("--mount type=volume,src=/srv,dst=/srv").contains("volume name"));
        assert!(error("--mount type=tmpfs,src=x,dst=/x").contains("no source"));
        assert!(error("--mount src=x,dst=/x,bind-propagation=shared").contains("type=bind"));
        assert!(error("--mount type=npipe,src=x,dst=/x").contains("type=bind, volume or tmpfs"));
        assert!(error("--mount src=x,dst=/x,volume-driver=local").contains("Unsupported key"));
    }

    #[test]
    fn unknown_and_malformed_options_are_refused() {
        assert_eq!(
            error("--publish 80:80"),
            "Unsupported docker option --publish"
        );
        assert_eq!(error("-p=80:80"), "Unsupported docker option -p");
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

    #[test]
    fn build_options() {
        let options = BuildOptions::parse(
            "--build-arg A=1 --build-arg=\"B=x y\" --label a=b -l c --no-cache \
             --pull=false --network backend --target=release",
            NONE,
        )
        .unwrap();
        assert_eq!(
            options,
            BuildOptions {
                build_args: vec![("A".into(), "1".into()), ("B".into(), "x y".into())],
                labels: vec![("a".into(), "b".into()), ("c".into(), String::new())],
                no_cache: true,
                pull: false,
                network: Some("backend".into()),
                target: Some("release".into()),
            }
        );
        assert!(BuildOptions::parse("--pull", NONE).unwrap().pull);
        let error = |text: &str| BuildOptions::parse(text, NONE).unwrap_err().to_string();
        assert_eq!(
            error("--network host"),
            "Refused docker option --network host (class host-namespaces): allow it with plugin:set --global allowed-docker-options host-namespaces"
        );
        assert_eq!(
            BuildOptions::parse("--net=host", &[OptionClass::HostNamespaces])
                .unwrap()
                .network
                .as_deref(),
            Some("host")
        );
        assert!(error("--build-arg A").contains("needs KEY=VALUE"));
        assert!(error("--label com.dokku.app-name=x").contains("berth's own"));
        assert_eq!(error("--memory 1g"), "Unsupported docker option --memory");
        assert_eq!(error("--target"), "Docker option --target needs a value");
    }
}
