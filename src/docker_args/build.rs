//! `docker build` options (`docker-args-build`): the few a Dockerfile build
//! takes, parsed straight into [`BuildOptions`]' fields.

use super::values::{label, variable};
use super::{OptionClass, Words, bad_value, non_empty, require, unsupported};
use crate::error::Result;

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
    /// The options plugins give a build: `docker-args-build APP BUILDER`
    /// and `docker-args-process-build APP BUILDER`, checked against the
    /// admin's allow-list.
    pub fn from_plugins(ctx: &crate::context::Context, args: &[&str]) -> Result<BuildOptions> {
        let (text, allowed) = super::from_triggers(ctx, "build", args, args)?;
        BuildOptions::parse(&text, &allowed)
    }

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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker_args::fixtures::NONE;

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
