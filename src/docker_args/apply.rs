//! Lays parsed `docker run` options onto the container body berth built:
//! single values replace berth's, lists grow, host paths go through berth's
//! host-path translation, and extra networks are joined besides berth's.

use std::collections::HashMap;
use std::path::Path;

use super::mounts::VolumeSource;
use super::run::RunOption;
use crate::engine::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType, NetworkingConfig,
    PortBinding,
};
use crate::error::{Error, Result};
use crate::host_path::HostPath;

pub(super) fn apply_run_option(
    option: &RunOption,
    body: &mut ContainerCreateBody,
    to_host: &dyn Fn(&Path) -> Result<HostPath>,
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
        RunOption::Publish(port) => {
            push(&mut body.exposed_ports, port.clone());
            let binding = PortBinding {
                host_ip: None,
                host_port: Some(String::new()),
            };
            host_config(body)
                .port_bindings
                .get_or_insert_with(HashMap::new)
                .insert(port.clone(), Some(vec![binding]));
        }
        option => apply_host_option(option, host_config(body), to_host)?,
    }
    Ok(())
}

fn apply_host_option(
    option: &RunOption,
    host: &mut HostConfig,
    to_host: &dyn Fn(&Path) -> Result<HostPath>,
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
        | RunOption::Publish(_)
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
pub(super) fn join_networks(
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

fn host_path(to_host: &dyn Fn(&Path) -> Result<HostPath>, path: &Path) -> Result<String> {
    to_host(path)?.to_engine()
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker_args::fixtures::{NONE, applied, berth_body, error, to_host};
    use crate::docker_args::{OptionClass, RunOptions};

    #[test]
    fn env_replaces_config_vars_and_keeps_quoted_spaces() {
        let body = applied("-e A=2 --env \"B=b c\"\n--env=C=x=y -e=D=");
        assert_eq!(
            body.env.unwrap(),
            vec!["PORT=5000", "DYNO=web.1", "A=2", "B=b c", "C=x=y", "D="]
        );
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
    fn publish_takes_a_container_port_only() {
        let body = applied("-p 5000 --publish 53/udp");
        assert_eq!(
            body.exposed_ports,
            Some(vec!["5000/tcp".to_string(), "53/udp".to_string()])
        );
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        let binding = &bindings["5000/tcp"].as_ref().unwrap()[0];
        assert_eq!(binding.host_port.as_deref(), Some(""));
        assert_eq!(binding.host_ip, None);
        assert!(error("-p 8080:5000").contains("a container port"));
        assert!(error("-p 5000/sctp").contains("a container port"));
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
    fn to_host_failures_stop_apply() {
        let options = RunOptions::parse("-v /srv:/srv", &[OptionClass::HostMounts]).unwrap();
        let refuse = |_: &Path| -> Result<HostPath> { Err(Error::fail("unknown host root")) };
        let mut body = berth_body();
        let message = options.apply(&mut body, &refuse).unwrap_err().to_string();
        assert_eq!(message, "unknown host root");
    }
}
