//! berth's zero-config builder (`builder-auto`): apps pushed without a
//! Dockerfile. Herokuish's buildpacks and the runtimes they download are
//! out of reach on a machine without an image registry, so berth detects
//! the stack ([`detect`]), writes a multi-stage Dockerfile for it
//! ([`render`]) from the distribution's base image and the language's own
//! package manager, and builds that through the same engine path as any
//! Dockerfile.
//!
//! Properties: `config/builder-auto/<app|--global>/{stack,base-image,
//! python-version,node-version,npm-version,install-command,build-command,
//! web-command}`.

pub mod detect;
pub mod render;

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec};

use detect::{Files, Stack};
use render::{BuildFile, CONTEXT_DIR, Settings};

pub static PLUGIN: Plugin = Plugin {
    name: "builder-auto",
    description: "Manage berth's zero-config builder for an app",
    default_command: Some("builder-auto:report"),
    commands: &[
        Command {
            name: "builder-auto:report",
            usage: "[<app>|--global] [<flag>|--print]",
            description: "Displays the detected stack and the build file of one or more apps (--print: the build file alone)",
            run: report,
        },
        Command {
            name: "builder-auto:set",
            usage: "[--global|<app>] <key> (<value>)",
            description: "Set or clear a zero-config builder property for an app",
            run: set,
        },
    ],
    triggers: &[],
};

/// The base image of every stage unless `base-image` says otherwise.
pub const DEFAULT_BASE: &str = "debian:bookworm-slim";

const PROPERTIES: &[Property] = &[
    Property {
        name: "base-image",
        reach: Reach::AppAndGlobal,
        validate: Some(image_name),
    },
    Property {
        name: "build-command",
        reach: Reach::AppAndGlobal,
        validate: Some(command),
    },
    Property {
        name: "install-command",
        reach: Reach::AppAndGlobal,
        validate: Some(command),
    },
    Property {
        name: "node-version",
        reach: Reach::AppAndGlobal,
        validate: Some(version),
    },
    Property {
        name: "npm-version",
        reach: Reach::AppAndGlobal,
        validate: Some(version),
    },
    Property {
        name: "python-version",
        reach: Reach::AppAndGlobal,
        validate: Some(version),
    },
    Property {
        name: "stack",
        reach: Reach::AppAndGlobal,
        validate: Some(stack),
    },
    Property {
        name: "web-command",
        reach: Reach::AppOnly,
        validate: Some(command),
    },
];

/// The properties with their defaults, for reports.
const LAYERED: &[(&str, &str)] = &[
    ("base-image", DEFAULT_BASE),
    ("build-command", ""),
    ("install-command", ""),
    ("node-version", ""),
    ("npm-version", DEFAULT_NPM),
    ("python-version", ""),
    ("stack", ""),
    ("web-command", ""),
];

const DEFAULT_NPM: &str = "10";

/// What a distribution base image ships, for the version checks.
struct Base {
    image: &'static str,
    python: &'static str,
    node: &'static str,
    go: &'static str,
}

const BASES: &[Base] = &[
    Base {
        image: "debian:bookworm-slim",
        python: "3.11",
        node: "18.20.4",
        go: "1.19",
    },
    Base {
        image: "debian:bookworm",
        python: "3.11",
        node: "18.20.4",
        go: "1.19",
    },
    Base {
        image: "debian:trixie-slim",
        python: "3.13",
        node: "20.19.2",
        go: "1.24",
    },
    Base {
        image: "debian:trixie",
        python: "3.13",
        node: "20.19.2",
        go: "1.24",
    },
];

fn image_name(value: &str) -> Result<()> {
    let valid = value.len() <= 255
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':' | '@'))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        return Ok(());
    }
    Err(Error::fail(format!(
        "Invalid base-image {value}: give an image name such as {DEFAULT_BASE}"
    )))
}

fn command(value: &str) -> Result<()> {
    match crate::words::split(value) {
        Ok(words) if !words.is_empty() => Ok(()),
        Ok(_) => Err(Error::fail("Invalid command: it has no words")),
        Err(e) => Err(Error::fail(format!("Invalid command {value}: {e}"))),
    }
}

fn version(value: &str) -> Result<()> {
    let valid = value.len() <= 64
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '.' | '-' | '^' | '~' | '<' | '>' | '=' | ' ' | '|' | '*')
        });
    if valid {
        return Ok(());
    }
    Err(Error::fail(format!(
        "Invalid version {value}: give a version such as 3.11 or a range such as >=18"
    )))
}

fn stack(value: &str) -> Result<()> {
    if detect::STACKS.contains(&value) {
        return Ok(());
    }
    Err(Error::fail(format!(
        "Invalid stack {value}, valid stacks: {}",
        detect::STACKS.join(", ")
    )))
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, "builder-auto", PROPERTIES, args)
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    if args.iter().any(|a| a == "--print") {
        let app = args.iter().find(|a| !a.starts_with("--"));
        let app = ctx.existing_app(app.map(String::as_str))?;
        let plan = super::current_plan(ctx, &app)?;
        return ctx.out.raw(plan.file.text().as_bytes());
    }
    let spec = ReportSpec {
        command: "builder-auto:report",
        title: "builder-auto",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => {
            let mut rows = super::layered_rows(ctx, "builder-auto", app, LAYERED)?;
            let (stack, file) = match super::current_plan(ctx, app) {
                Ok(plan) => (plan.stack.name().to_string(), plan.file.text()),
                Err(e) => (String::new(), format!("({e})")),
            };
            rows.push(("--builder-auto-detected-stack".into(), stack));
            rows.push(("--builder-auto-build-file".into(), file));
            Ok(rows)
        }
        report::Target::Global => report::global_rows(ctx, "builder-auto", LAYERED),
    })
}

/// What the zero-config builder builds: the stack, its build file, the
/// files berth adds to the context and the web process of an app without
/// a Procfile.
pub struct Plan {
    pub stack: Stack,
    pub file: BuildFile,
    pub context: Vec<(String, Vec<u8>)>,
    pub web: Option<String>,
    /// Said before the build (a version chosen, buildpacks not run).
    pub notes: Vec<String>,
}

/// How the build runs: decided by the builder, not the app.
pub struct Environment {
    /// The CA bundle for build stages (`builder:set --global ca-bundle`).
    pub ca_bundle: Option<Vec<u8>>,
    pub ca_runtime: bool,
    pub buildkit: bool,
    /// The app's config keys (values arrive as build args).
    pub config_keys: Vec<String>,
}

/// The plan for `files`, `None` when no stack matches.
pub fn plan(
    ctx: &Context,
    app: &AppName,
    files: &dyn Files,
    environment: Environment,
) -> Result<Option<Plan>> {
    let property = |key: &str| -> Result<Option<String>> {
        Ok(ctx
            .store
            .app_property("builder-auto", app, key)?
            .filter(|v| !v.is_empty()))
    };
    let forced = property("stack")?;
    let Some(stack) = detect::detect(files, forced.as_deref())? else {
        return Ok(None);
    };
    let base = property("base-image")?.unwrap_or_else(|| DEFAULT_BASE.into());
    let mut notes = Vec::new();
    check_versions(&stack, &base, property, &mut notes)?;
    let words = |key: &str| -> Result<Option<Vec<String>>> {
        property(key)?
            .map(|line| {
                crate::words::split(&line)
                    .map_err(|e| Error::fail(format!("Invalid builder-auto {key}: {e}")))
            })
            .transpose()
    };
    let settings = Settings {
        base,
        ca_bundle: environment.ca_bundle.is_some(),
        ca_runtime: environment.ca_runtime && environment.ca_bundle.is_some(),
        npm_version: property("npm-version")?.unwrap_or_else(|| DEFAULT_NPM.into()),
        install: words("install-command")?,
        build: words("build-command")?,
        buildkit: environment.buildkit,
        build_env: environment.config_keys,
    };
    let file = render::render(&stack, &settings);
    let mut context = vec![(
        format!("{CONTEXT_DIR}/Dockerfile"),
        file.text().into_bytes(),
    )];
    if let Some(ca) = environment.ca_bundle {
        context.push((render::CA_FILE.to_string(), ca));
    }
    match &stack {
        Stack::Node(_) => context.push((
            format!("{CONTEXT_DIR}/fetch-npm.js"),
            include_bytes!("fetch-npm.js").to_vec(),
        )),
        Stack::Python(_) => context.push((
            format!("{CONTEXT_DIR}/requirements.py"),
            include_bytes!("requirements.py").to_vec(),
        )),
        _ => {}
    }
    let web = property("web-command")?.or_else(|| stack.default_web());
    Ok(Some(Plan {
        stack,
        file,
        context,
        web,
        notes,
    }))
}

/// Refuses a version the base image cannot give, naming what it has.
fn check_versions(
    stack: &Stack,
    base: &str,
    property: impl Fn(&str) -> Result<Option<String>>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let Some(known) = BASES.iter().find(|b| b.image == base) else {
        notes.push(format!(
            "Base image {base} is not one berth knows: versions are not checked"
        ));
        return Ok(());
    };
    let other = |have: fn(&Base) -> &'static str| {
        BASES
            .iter()
            .filter(|b| b.image.ends_with("-slim") && b.image != base)
            .map(|b| format!("{} ({})", b.image, have(b)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match stack {
        Stack::Python(python) => {
            let asked = match property("python-version")? {
                Some(v) => Some(("builder-auto python-version".to_string(), v)),
                None => python.version.clone(),
            };
            if let Some((source, wanted)) = asked {
                if !same_release(&wanted, known.python) {
                    return Err(Error::fail(format!(
                        "Python {wanted} ({source}) is not available on {base}, which has Python {}; other bases: {} (builder-auto:set APP base-image IMAGE)",
                        known.python,
                        other(|b| b.python)
                    )));
                }
                notes.push(format!(
                    "Using Python {} from {base} ({source} asks for {wanted})",
                    known.python
                ));
            }
        }
        Stack::Node(node) => {
            let asked = match property("node-version")? {
                Some(v) => Some(("builder-auto node-version".to_string(), v)),
                None => node
                    .engines
                    .clone()
                    .map(|e| ("package.json engines.node".to_string(), e)),
            };
            if let Some((source, wanted)) = asked {
                match node_satisfies(&wanted, known.node) {
                    Some(true) => notes.push(format!(
                        "Using Node.js {} from {base} ({source} asks for {wanted})",
                        known.node
                    )),
                    Some(false) => {
                        return Err(Error::fail(format!(
                            "Node.js {wanted} ({source}) is not available on {base}, which has Node.js {}; other bases: {} (builder-auto:set APP base-image IMAGE)",
                            known.node,
                            other(|b| b.node)
                        )));
                    }
                    None => notes.push(format!(
                        "Unable to read the Node.js range {wanted} ({source}): using Node.js {} from {base}",
                        known.node
                    )),
                }
            }
        }
        Stack::Go(go) => {
            if let Some(wanted) = &go.version
                && release(wanted) > release(known.go)
            {
                return Err(Error::fail(format!(
                    "Go {wanted} (go.mod) is not available on {base}, which has Go {}; other bases: {} (builder-auto:set APP base-image IMAGE)",
                    known.go,
                    other(|b| b.go)
                )));
            }
        }
        Stack::Static(_) => {}
    }
    Ok(())
}

/// `3`, `3.11` and `3.11.7` are all Python 3.11 (the distribution picks
/// the patch release).
fn same_release(wanted: &str, have: &str) -> bool {
    let wanted: Vec<&str> = wanted
        .trim()
        .trim_start_matches("python-")
        .split('.')
        .collect();
    let have: Vec<&str> = have.split('.').collect();
    wanted
        .iter()
        .zip(have.iter())
        .take(2)
        .all(|(w, h)| w == h || *w == "x" || *w == "*")
}

/// (major, minor) of a `1.21` or `1.21.3`.
fn release(version: &str) -> (u32, u32) {
    let mut parts = version.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Whether npm's range (`>=18 <21`, `^18 || ^20`, `18.x`, `1 - 2`) admits
/// `version`; `None` when the range cannot be read. npm's syntax differs
/// from the semver crate's (spaces join comparators, `||` alternatives),
/// so it is translated part by part.
fn node_satisfies(range: &str, version: &str) -> Option<bool> {
    let version = semver::Version::parse(version).ok()?;
    let mut any = false;
    for alternative in range.split("||") {
        let words: Vec<&str> = alternative.split_whitespace().collect();
        let requirement = match words.as_slice() {
            [] => "*".to_string(),
            [low, "-", high] => format!(">={low}, <={high}"),
            words => {
                // `>= 18` is one comparator written in two words.
                let mut joined: Vec<String> = Vec::new();
                for word in words {
                    match joined.last_mut() {
                        Some(last) if last.chars().all(|c| "<>=~^".contains(c)) => {
                            last.push_str(word)
                        }
                        _ => joined.push(word.to_string()),
                    }
                }
                joined.join(", ")
            }
        };
        let requirement = semver::VersionReq::parse(requirement.trim_start_matches('v')).ok()?;
        any |= requirement.matches(&version);
    }
    Some(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_ranges_are_read_as_npm_means_them() {
        for (range, ok) in [
            (">=18", true),
            ("18.x", true),
            ("^18.17", true),
            (">=16 <19", true),
            (">= 16 < 18", false),
            ("^20 || ^18", true),
            ("20", false),
            ("16 - 17", false),
            ("16 - 18", true),
            ("*", true),
        ] {
            assert_eq!(node_satisfies(range, "18.20.4"), Some(ok), "{range}");
        }
        assert_eq!(node_satisfies("latest lts", "18.20.4"), None);
    }

    #[test]
    fn python_releases_match_on_major_and_minor() {
        assert!(same_release("3.11.7", "3.11"));
        assert!(same_release("python-3.11", "3.11"));
        assert!(same_release("3", "3.11"));
        assert!(!same_release("3.12", "3.11"));
        assert!(!same_release("2.7", "3.11"));
    }

    #[test]
    fn go_releases_compare_numerically() {
        assert!(release("1.9") < release("1.19"));
        assert!(release("1.21.3") > release("1.19"));
    }
}
