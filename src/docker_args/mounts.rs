//! `-v`/`--volume` and `--mount` values: named volumes, tmpfs mounts and —
//! with the host-mounts class — bind mounts of host folders. Host paths stay
//! as berth sees them until `apply` translates them.

use std::path::{Component, PathBuf};

use super::values::size;
use super::{Flag, OptionClass, bad_value, require};
use crate::engine::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType,
    MountVolumeOptions,
};
use crate::error::{Error, Result};

/// A `-v source:target[:mode]` mount.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Volume {
    pub(super) source: VolumeSource,
    pub(super) target: String,
    pub(super) mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum VolumeSource {
    /// A host folder, as berth sees it (translated on apply).
    Host(PathBuf),
    /// A named volume.
    Named(String),
}

/// `-v source:target[:mode]`: a host folder (absolute path, class
/// host-mounts) or a named volume. Anonymous volumes (`-v /data`) are
/// refused: every deploy would leave one behind.
pub(super) fn volume(name: &str, text: &str, allowed: &[OptionClass]) -> Result<Volume> {
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
pub(super) fn mount(name: &str, text: &str, allowed: &[OptionClass]) -> Result<Mount> {
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
    use crate::docker_args::fixtures::{applied_with, error, host};
    use crate::docker_args::{OptionClass, RunOptions};

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
                "/host:/host",
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
}
