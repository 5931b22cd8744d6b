//! Container-mode paths: the one translation from a path berth sees to the
//! path the Docker engine must be given for a bind mount, and the type
//! ([`HostPath`]) that only this translation makes.
//!
//! On the host the two are the same. When berth runs in a container (the
//! platform container), the engine is the host's: a bind
//! source must be a *host* path, while berth sees its state under
//! `$DOKKU_ROOT` and `$DOKKU_LIB_ROOT`, which are mounted from elsewhere.
//! Those two prefixes are replaced by `DOKKU_HOST_ROOT` and
//! `DOKKU_LIB_HOST_ROOT` (Dokku's variables), or, when those are unset, by
//! the host source of berth's own `/mnt/dokku` mount, asked of the engine
//! once per process. Paths outside both roots are host paths already (an
//! admin may mount any host folder, as in Dokku).
//!
//! Architecture invariant: every path handed to the Docker engine is a
//! [`HostPath`], and only [`resolve`] (through [`to_host_path`]) makes one.

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::Store;

/// Where the platform container mounts its one volume: it
/// holds `home/dokku` and `var/lib/dokku`.
pub const PLATFORM_MOUNT: &str = "/mnt/dokku";

/// One of berth's two state roots, as seen from inside the container, and
/// its host path when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The path berth uses: `$DOKKU_ROOT` or `$DOKKU_LIB_ROOT`.
    pub container: PathBuf,
    /// The same folder on the host, if known.
    pub host: Option<PathBuf>,
    /// The variable that names `host`: `DOKKU_HOST_ROOT`, `DOKKU_LIB_HOST_ROOT`.
    pub variable: &'static str,
}

/// What [`translate`] made of a path.
#[derive(Debug, PartialEq, Eq)]
pub enum Translation {
    /// The path is outside both roots: the engine gets it unchanged.
    Unchanged,
    /// The path is under a root whose host path is known.
    Host(PathBuf),
    /// The path is under a root whose host path is not known.
    Unknown {
        variable: &'static str,
        root: PathBuf,
    },
}

/// A path the Docker engine may be given as a bind or device source: a
/// path on the engine's host. Only [`resolve`] makes one, so a container
/// request cannot carry a path that skipped the translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath(PathBuf);

impl HostPath {
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The path as the engine's API takes it: text.
    pub fn to_engine(&self) -> Result<String> {
        self.0.to_str().map(str::to_string).ok_or_else(|| {
            Error::fail(format!(
                "Unable to mount {}: the host path is not UTF-8",
                self.0.display()
            ))
        })
    }
}

/// The one translation: `path`, as berth sees it, as a [`HostPath`] under
/// `roots`. Refuses relative paths and `..` components (their meaning
/// would differ on the two sides), and paths under a root whose host path
/// is unknown.
pub fn resolve(path: &Path, roots: &[Root]) -> Result<HostPath> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(Error::fail(format!(
            "Unable to mount {}: a mount source must be an absolute path without '..'",
            path.display()
        )));
    }
    match translate(path, roots) {
        Translation::Unchanged => Ok(HostPath(path.to_path_buf())),
        Translation::Host(host) => Ok(HostPath(host)),
        Translation::Unknown { variable, root } => Err(Error::fail(format!(
            "Unable to tell the host path of {}: set {variable} to the host folder mounted at {} (or mount one volume at {PLATFORM_MOUNT})",
            path.display(),
            root.display()
        ))),
    }
}

/// The prefix rule, free of the environment: a path under a root (whole
/// components: `/var/lib/dokku2` is not under `/var/lib/dokku`) gets that
/// prefix replaced by the root's host path. The deepest matching root wins.
pub fn translate(path: &Path, roots: &[Root]) -> Translation {
    let found = roots
        .iter()
        .filter_map(|root| {
            path.strip_prefix(&root.container)
                .ok()
                .map(|rest| (root, rest))
        })
        .max_by_key(|(root, _)| root.container.components().count());
    match found {
        None => Translation::Unchanged,
        Some((root, rest)) => match &root.host {
            Some(host) if rest.as_os_str().is_empty() => Translation::Host(host.clone()),
            Some(host) => Translation::Host(host.join(rest)),
            None => Translation::Unknown {
                variable: root.variable,
                root: root.container.clone(),
            },
        },
    }
}

/// The host roots implied by the platform container's mounts: the source
/// of the `/mnt/dokku` mount holds `home/dokku` and `var/lib/dokku`.
pub fn platform_host_roots(mounts: &[(String, String)]) -> Option<(PathBuf, PathBuf)> {
    let source = mounts
        .iter()
        .find(|(_, destination)| Path::new(destination) == Path::new(PLATFORM_MOUNT))
        .map(|(source, _)| PathBuf::from(source))?;
    Some((source.join("home/dokku"), source.join("var/lib/dokku")))
}

/// Whether berth runs as the platform container: `BERTH_CONTAINER=1|0`
/// decides when set; else the platform's layout (a volume at `/mnt/dokku`)
/// inside a Docker container. `/.dockerenv` alone is not enough: berth may
/// run directly on a host that is itself a container, with its own engine.
pub fn in_container() -> bool {
    match std::env::var("BERTH_CONTAINER").as_deref() {
        Ok("1") | Ok("true") => true,
        Ok("0") | Ok("false") => false,
        _ => Path::new("/mnt/dokku").is_dir() && Path::new("/.dockerenv").exists(),
    }
}

/// The path the engine must be given for `path`, a path berth sees:
/// [`resolve`] with this process's roots. Identity on the host; in a
/// container, see the module documentation.
pub fn to_host_path(store: &Store, path: &Path) -> Result<HostPath> {
    if !in_container() {
        return resolve(path, &[]);
    }
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut roots = [
        Root {
            container: store.dokku_root().to_path_buf(),
            host: var("DOKKU_HOST_ROOT"),
            variable: "DOKKU_HOST_ROOT",
        },
        Root {
            container: store.lib_root().to_path_buf(),
            host: var("DOKKU_LIB_HOST_ROOT"),
            variable: "DOKKU_LIB_HOST_ROOT",
        },
    ];
    if let Translation::Unknown { .. } = translate(path, &roots)
        && let Some((home, lib)) = detected_host_roots()
    {
        roots[0].host.get_or_insert(home);
        roots[1].host.get_or_insert(lib);
    }
    resolve(path, &roots)
}

/// The host roots from berth's own `/mnt/dokku` mount, asked of the engine
/// once per process; `None` when the engine is unreachable or knows no
/// such mount.
fn detected_host_roots() -> Option<(PathBuf, PathBuf)> {
    static DETECTED: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    DETECTED
        .get_or_init(|| {
            let mounts = Engine::connect().and_then(|e| e.own_mounts()).ok()?;
            platform_host_roots(&mounts)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(home: Option<&str>, lib: Option<&str>) -> Vec<Root> {
        vec![
            Root {
                container: "/home/dokku".into(),
                host: home.map(PathBuf::from),
                variable: "DOKKU_HOST_ROOT",
            },
            Root {
                container: "/var/lib/dokku".into(),
                host: lib.map(PathBuf::from),
                variable: "DOKKU_LIB_HOST_ROOT",
            },
        ]
    }

    #[test]
    fn paths_under_a_root_get_its_host_prefix() {
        let r = roots(Some("/srv/d/home/dokku"), Some("/srv/d/var/lib/dokku"));
        assert_eq!(
            translate(Path::new("/var/lib/dokku/data/storage/x"), &r),
            Translation::Host("/srv/d/var/lib/dokku/data/storage/x".into())
        );
        assert_eq!(
            translate(Path::new("/home/dokku/demo"), &r),
            Translation::Host("/srv/d/home/dokku/demo".into())
        );
        assert_eq!(
            translate(Path::new("/var/lib/dokku"), &r),
            Translation::Host("/srv/d/var/lib/dokku".into())
        );
    }

    #[test]
    fn a_sibling_with_the_same_prefix_is_not_under_the_root() {
        let r = roots(Some("/h"), Some("/l"));
        assert_eq!(
            translate(Path::new("/var/lib/dokku2/x"), &r),
            Translation::Unchanged
        );
        assert_eq!(
            translate(Path::new("/home/dokkuish"), &r),
            Translation::Unchanged
        );
    }

    #[test]
    fn paths_outside_both_roots_are_unchanged() {
        let r = roots(None, None);
        assert_eq!(
            translate(Path::new("/srv/data"), &r),
            Translation::Unchanged
        );
    }

    #[test]
    fn an_unknown_host_root_names_its_variable() {
        let r = roots(Some("/h"), None);
        assert_eq!(
            translate(Path::new("/var/lib/dokku/data/storage/x"), &r),
            Translation::Unknown {
                variable: "DOKKU_LIB_HOST_ROOT",
                root: "/var/lib/dokku".into()
            }
        );
        assert_eq!(
            translate(Path::new("/home/dokku/x"), &r),
            Translation::Host("/h/x".into())
        );
    }

    #[test]
    fn the_deepest_root_wins_when_roots_nest() {
        let r = vec![
            Root {
                container: "/data".into(),
                host: Some("/a".into()),
                variable: "DOKKU_HOST_ROOT",
            },
            Root {
                container: "/data/lib".into(),
                host: Some("/b".into()),
                variable: "DOKKU_LIB_HOST_ROOT",
            },
        ];
        assert_eq!(
            translate(Path::new("/data/lib/x"), &r),
            Translation::Host("/b/x".into())
        );
        assert_eq!(
            translate(Path::new("/data/other"), &r),
            Translation::Host("/a/other".into())
        );
    }

    #[test]
    fn host_roots_come_from_the_platform_mount() {
        let mounts = vec![
            (
                "/var/run/docker.sock".to_string(),
                "/var/run/docker.sock".to_string(),
            ),
            ("/var/lib/dokku".to_string(), "/mnt/dokku".to_string()),
        ];
        assert_eq!(
            platform_host_roots(&mounts),
            Some((
                "/var/lib/dokku/home/dokku".into(),
                "/var/lib/dokku/var/lib/dokku".into()
            ))
        );
        assert_eq!(platform_host_roots(&mounts[..1]), None);
    }

    #[test]
    fn resolve_refuses_what_means_something_else_on_the_host() {
        let r = roots(Some("/h"), None);
        assert_eq!(
            resolve(Path::new("/home/dokku/x"), &r).unwrap().as_path(),
            Path::new("/h/x")
        );
        assert_eq!(
            resolve(Path::new("/srv/x"), &r)
                .unwrap()
                .to_engine()
                .unwrap(),
            "/srv/x"
        );
        for bad in ["srv/x", "/srv/../etc"] {
            let message = resolve(Path::new(bad), &r).unwrap_err().to_string();
            assert!(message.contains("absolute path without '..'"), "{message}");
        }
        let message = resolve(Path::new("/var/lib/dokku/x"), &r)
            .unwrap_err()
            .to_string();
        assert!(message.contains("set DOKKU_LIB_HOST_ROOT"), "{message}");
    }
}
