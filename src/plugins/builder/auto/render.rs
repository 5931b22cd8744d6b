//! The build file the zero-config builder writes for a detected stack: a
//! multi-stage Dockerfile the engine builds like any other. Dependencies
//! install from the manifest and lockfile alone, before the app's code is
//! copied, so a push that changes only code reuses that layer. A CA bundle
//! (`.berth/ca-bundle.crt` in the context) is copied into build stages only,
//! never into the runtime image unless `ca_runtime` asks for it.

use super::detect::{NodeTool, PythonManifest, Stack};

/// Where berth's own files sit in the build context; the runtime image
/// never contains them.
pub const CONTEXT_DIR: &str = ".berth";
pub const CA_FILE: &str = ".berth/ca-bundle.crt";

pub struct Settings {
    /// `FROM` of every stage (`debian:bookworm-slim`).
    pub base: String,
    pub ca_bundle: bool,
    pub ca_runtime: bool,
    /// The npm release fetched from the npm registry (`10`).
    pub npm_version: String,
    /// Replaces the dependency install (argv, no shell).
    pub install: Option<Vec<String>>,
    /// Replaces the build step (argv, no shell).
    pub build: Option<Vec<String>>,
    /// The engine builds with BuildKit: package caches become cache
    /// mounts that outlive the layers.
    pub buildkit: bool,
    /// Config keys the build step sees (their values arrive as build
    /// args, as Dokku passes config to Dockerfile builds).
    pub build_env: Vec<String>,
}

/// A Dockerfile, and the Heroku-style line to print when the builder
/// reaches a step.
#[derive(Default)]
pub struct BuildFile {
    lines: Vec<String>,
    /// (instruction, message): both builders print the instruction as
    /// written when its step starts (`Step 9/20 : RUN …`, `#9 [deps 4/5] RUN …`).
    announce: Vec<(String, String)>,
}

impl BuildFile {
    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }

    /// What to say when the builder prints `output` (one line).
    pub fn announcement(&self, output: &str) -> Option<&str> {
        self.announce
            .iter()
            .find(|(instruction, _)| output.trim_end().ends_with(instruction.as_str()))
            .map(|(_, message)| message.as_str())
    }

    fn comment(&mut self, text: &str) {
        self.lines.push(format!("# {text}"));
    }

    fn step(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    fn announced(&mut self, message: &str, line: impl Into<String>) {
        let line = line.into();
        self.announce.push((line.clone(), message.to_string()));
        self.step(line);
    }

    /// `RUN` in exec form: the words are JSON-escaped, never a shell line.
    fn run(&mut self, argv: &[String]) {
        self.step(format!("RUN {}", json(argv)));
    }

    fn blank(&mut self) {
        self.lines.push(String::new());
    }
}

/// `RUN` of `argv`; under BuildKit the tool's `caches` are cache mounts.
fn run_line(settings: &Settings, caches: &[&str], argv: &[String]) -> String {
    let mut line = String::from("RUN ");
    if settings.buildkit {
        for cache in caches {
            line.push_str(&format!("--mount=type=cache,target={cache} "));
        }
    }
    line + &json(argv)
}

/// `ARG` for each config key the build step may read.
fn build_args(file: &mut BuildFile, settings: &Settings) {
    for key in &settings.build_env {
        file.step(format!("ARG {key}"));
    }
}

fn json(argv: &[String]) -> String {
    serde_json::to_string(argv).unwrap_or_default()
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The build file for `stack`.
pub fn render(stack: &Stack, settings: &Settings) -> BuildFile {
    let mut file = BuildFile::default();
    file.comment(&format!(
        "Written by berth's zero-config builder for a {} app (builder-auto:report APP --print).",
        stack.title()
    ));
    file.comment("Save it as Dockerfile to build the app with the Dockerfile builder instead.");
    match stack {
        Stack::Python(python) => render_python(&mut file, settings, &python.manifest),
        Stack::Node(node) => render_node(&mut file, settings, &node.tool, node.build_script),
        Stack::Go(go) => render_go(&mut file, settings, go.sum),
        Stack::Static(_) => render_static(&mut file, settings),
    }
    file.step("ENV PORT=5000");
    file.step("WORKDIR /app");
    file.step("USER 1000:1000");
    file.step("EXPOSE 5000");
    if let Some(web) = stack.default_web() {
        // The scheduler runs the Procfile's web line (berth expands $PORT);
        // this is for the image run by hand.
        file.step(format!(
            "CMD {}",
            json(&argv(&[
                "sh",
                "-c",
                &format!("exec {}", web.replace("$PORT", "\"$PORT\""))
            ]))
        ));
    }
    file
}

/// The shared first stage: the distribution's packages and the app user.
fn base_stage(file: &mut BuildFile, settings: &Settings, packages: &str) {
    file.step(format!("FROM {} AS base", settings.base));
    file.step("ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8");
    file.step(format!(
        "RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates {packages} && rm -rf /var/lib/apt/lists/*"
    ));
    file.step(
        "RUN useradd --uid 1000 --user-group --home-dir /app --no-create-home --shell /bin/sh app",
    );
    file.blank();
    file.step(format!("FROM {} AS source", settings.base));
    file.step("COPY . /app");
    file.step(format!("RUN rm -rf /app/{CONTEXT_DIR}"));
    file.blank();
}

/// The CA bundle for the tools of a build stage.
fn ca_lines(file: &mut BuildFile, settings: &Settings) {
    if !settings.ca_bundle {
        return;
    }
    file.step(format!("COPY {CA_FILE} /etc/berth/ca-bundle.crt"));
    file.step(
        "ENV SSL_CERT_FILE=/etc/berth/ca-bundle.crt PIP_CERT=/etc/berth/ca-bundle.crt \
REQUESTS_CA_BUNDLE=/etc/berth/ca-bundle.crt NODE_EXTRA_CA_CERTS=/etc/berth/ca-bundle.crt \
npm_config_cafile=/etc/berth/ca-bundle.crt GIT_SSL_CAINFO=/etc/berth/ca-bundle.crt",
    );
}

fn runtime_stage(file: &mut BuildFile, settings: &Settings, from: &str) {
    file.blank();
    file.step(format!("FROM {from}"));
    if settings.ca_runtime {
        ca_lines(file, settings);
    }
}

fn render_python(file: &mut BuildFile, settings: &Settings, manifest: &PythonManifest) {
    base_stage(file, settings, "python3 python3-venv");
    file.step("FROM base AS deps");
    ca_lines(file, settings);
    file.run(&argv(&["python3", "-m", "venv", "/app/.venv"]));
    let install = match manifest {
        PythonManifest::Requirements => {
            file.step("COPY requirements.txt /app/requirements.txt");
            ("Installing requirements with pip", "/app/requirements.txt")
        }
        PythonManifest::Pyproject | PythonManifest::Pipfile { .. } => {
            let copy = match manifest {
                PythonManifest::Pyproject => "COPY pyproject.toml /app/",
                PythonManifest::Pipfile { locked: true } => "COPY Pipfile.lock /app/",
                _ => "COPY Pipfile /app/",
            };
            file.step(copy);
            file.step(format!(
                "COPY {CONTEXT_DIR}/requirements.py /tmp/requirements.py"
            ));
            file.run(&argv(&[
                "/app/.venv/bin/python",
                "/tmp/requirements.py",
                "/app",
                "/tmp/requirements.txt",
            ]));
            ("Installing dependencies with pip", "/tmp/requirements.txt")
        }
    };
    let command = settings.install.clone().unwrap_or_else(|| {
        let mut words = argv(&[
            "/app/.venv/bin/pip",
            "install",
            "--disable-pip-version-check",
        ]);
        if !settings.buildkit {
            words.push("--no-cache-dir".into());
        }
        words.extend(argv(&["-r", install.1]));
        words
    });
    file.announced(
        install.0,
        run_line(settings, &["/root/.cache/pip"], &command),
    );
    runtime_stage(file, settings, "base");
    file.step("COPY --from=deps --chown=1000:1000 /app/.venv /app/.venv");
    file.step("COPY --from=source --chown=1000:1000 /app /app");
    file.step("ENV PATH=/app/.venv/bin:$PATH VIRTUAL_ENV=/app/.venv PYTHONUNBUFFERED=1");
    if let Some(build) = &settings.build {
        build_args(file, settings);
        file.announced("Building the app", format!("RUN {}", json(build)));
    }
}

fn render_node(file: &mut BuildFile, settings: &Settings, tool: &NodeTool, build_script: bool) {
    base_stage(file, settings, "nodejs");
    file.step("FROM base AS tools");
    ca_lines(file, settings);
    file.step(format!("COPY {CONTEXT_DIR}/fetch-npm.js /tmp/fetch-npm.js"));
    file.announced(
        &format!(
            "Installing npm {} from the npm registry",
            settings.npm_version
        ),
        format!(
            "RUN {}",
            json(&argv(&[
                "node",
                "/tmp/fetch-npm.js",
                &settings.npm_version,
                "/usr/local/lib/node_modules/npm",
            ]))
        ),
    );
    file.run(&argv(&[
        "ln",
        "-s",
        "../lib/node_modules/npm/bin/npm-cli.js",
        "/usr/local/bin/npm",
    ]));
    file.run(&argv(&[
        "ln",
        "-s",
        "../lib/node_modules/npm/bin/npx-cli.js",
        "/usr/local/bin/npx",
    ]));
    let (lockfile, install, prune): (&str, Vec<&str>, Vec<&str>) = match tool {
        NodeTool::Npm { locked: true } => (
            "package-lock.json*",
            if build_script {
                vec!["npm", "ci"]
            } else {
                vec!["npm", "ci", "--omit=dev"]
            },
            vec!["npm", "prune", "--omit=dev"],
        ),
        NodeTool::Npm { locked: false } => (
            "",
            if build_script {
                vec!["npm", "install"]
            } else {
                vec!["npm", "install", "--omit=dev"]
            },
            vec!["npm", "prune", "--omit=dev"],
        ),
        NodeTool::Yarn => {
            npm_global(file, "yarn@1");
            (
                "yarn.lock",
                if build_script {
                    vec!["yarn", "install", "--frozen-lockfile"]
                } else {
                    vec!["yarn", "install", "--frozen-lockfile", "--production"]
                },
                vec!["yarn", "install", "--frozen-lockfile", "--production"],
            )
        }
        NodeTool::Pnpm => {
            npm_global(file, "pnpm@9");
            (
                "pnpm-lock.yaml",
                if build_script {
                    vec!["pnpm", "install", "--frozen-lockfile"]
                } else {
                    vec!["pnpm", "install", "--frozen-lockfile", "--prod"]
                },
                vec!["pnpm", "prune", "--prod"],
            )
        }
    };
    file.blank();
    file.step("FROM tools AS deps");
    file.step("ENV npm_config_cache=/tmp/.npm");
    file.step("WORKDIR /app");
    file.step(format!("COPY package.json {lockfile} /app/").replace("  ", " "));
    let install = settings.install.clone().unwrap_or_else(|| argv(&install));
    file.announced(
        "Installing dependencies",
        run_line(settings, &["/tmp/.npm"], &install),
    );
    let build = settings
        .build
        .clone()
        .or_else(|| build_script.then(|| argv(&["npm", "run", "build"])));
    if let Some(build) = &build {
        file.step("COPY --from=source /app /app");
        build_args(file, settings);
        file.announced(
            "Building the app",
            run_line(settings, &["/tmp/.npm"], build),
        );
        file.step(run_line(settings, &["/tmp/.npm"], &argv(&prune)));
    }
    file.blank();
    file.step("FROM base");
    file.step("COPY --from=tools /usr/local /usr/local");
    if settings.ca_runtime {
        ca_lines(file, settings);
    }
    file.step("COPY --from=deps --chown=1000:1000 /app /app");
    if build.is_none() {
        file.step("COPY --from=source --chown=1000:1000 /app /app");
    }
    file.step("ENV NODE_ENV=production npm_config_cache=/tmp/.npm");
}

/// A package manager installed with npm, beside it in `/usr/local`.
fn npm_global(file: &mut BuildFile, package: &str) {
    file.run(&argv(&[
        "npm",
        "install",
        "--global",
        "--prefix",
        "/usr/local",
        package,
    ]));
}

const GO_CACHES: &[&str] = &["/go/pkg/mod", "/go/cache"];

fn render_go(file: &mut BuildFile, settings: &Settings, sum: bool) {
    base_stage(file, settings, "");
    file.step(format!("FROM {} AS build", settings.base));
    file.step(
        "RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates golang-go git && rm -rf /var/lib/apt/lists/*",
    );
    ca_lines(file, settings);
    file.step("ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOPATH=/go GOCACHE=/go/cache");
    file.step("WORKDIR /src");
    file.step(if sum {
        "COPY go.mod go.sum /src/"
    } else {
        "COPY go.mod /src/"
    });
    file.announced(
        "Downloading modules",
        run_line(settings, GO_CACHES, &argv(&["go", "mod", "download"])),
    );
    file.step("COPY --from=source /app /src");
    let build = settings
        .build
        .clone()
        .unwrap_or_else(|| argv(&["go", "build", "-trimpath", "-o", "/out/", "./..."]));
    build_args(file, settings);
    file.announced(
        "Building with go build",
        run_line(settings, GO_CACHES, &build),
    );
    runtime_stage(file, settings, "base");
    file.step("COPY --from=source --chown=1000:1000 /app /app");
    file.step("COPY --from=build /out /app/bin");
}

fn render_static(file: &mut BuildFile, settings: &Settings) {
    base_stage(file, settings, "busybox");
    runtime_stage(file, settings, "base");
    file.step("COPY --from=source --chown=1000:1000 /app /app");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::builder::auto::detect::{Python, Static};

    fn settings() -> Settings {
        Settings {
            base: "debian:bookworm-slim".into(),
            ca_bundle: true,
            ca_runtime: false,
            npm_version: "10".into(),
            install: None,
            build: None,
            buildkit: false,
            build_env: Vec::new(),
        }
    }

    fn python() -> Stack {
        Stack::Python(Python {
            manifest: PythonManifest::Requirements,
            version: None,
            web: Some("gunicorn --bind 0.0.0.0:$PORT app:app".into()),
        })
    }

    #[test]
    fn dependencies_install_before_the_code_is_copied() {
        let text = render(&python(), &settings()).text();
        let install = text.find("pip\",\"install").unwrap();
        let manifest = text.find("COPY requirements.txt").unwrap();
        let code = text.find("COPY --from=source").unwrap();
        assert!(manifest < install && install < code, "{text}");
    }

    #[test]
    fn the_ca_bundle_reaches_build_stages_only_unless_asked() {
        let file = render(&python(), &settings());
        let text = file.text();
        let runtime = text.rfind("\nFROM ").unwrap();
        assert!(text[..runtime].contains(CA_FILE));
        assert!(!text[runtime..].contains("ca-bundle"), "{text}");
        let asked = render(
            &python(),
            &Settings {
                ca_runtime: true,
                ..settings()
            },
        )
        .text();
        let runtime = asked.rfind("\nFROM ").unwrap();
        assert!(asked[runtime..].contains(CA_FILE));
    }

    #[test]
    fn buildkit_keeps_package_caches_in_cache_mounts() {
        let text = render(
            &python(),
            &Settings {
                buildkit: true,
                ..settings()
            },
        )
        .text();
        assert!(
            text.contains("RUN --mount=type=cache,target=/root/.cache/pip [\"/app/.venv/bin/pip\""),
            "{text}"
        );
        assert!(!text.contains("--no-cache-dir"));
        assert!(
            render(&python(), &settings())
                .text()
                .contains("--no-cache-dir")
        );
    }

    #[test]
    fn overrides_are_exec_form_words_never_a_shell_line() {
        let install = vec!["pip".to_string(), "install".into(), "x; rm -rf /".into()];
        let text = render(
            &python(),
            &Settings {
                install: Some(install),
                ..settings()
            },
        )
        .text();
        assert!(
            text.contains(r#"RUN ["pip","install","x; rm -rf /"]"#),
            "{text}"
        );
    }

    #[test]
    fn steps_are_announced_by_their_instruction_in_either_builder() {
        let file = render(&Stack::Static(Static { root: "/app" }), &settings());
        assert!(file.text().contains("busybox"));
        let python = render(&python(), &settings());
        let text = python.text();
        let line = text
            .lines()
            .find(|l| l.contains("pip\",\"install"))
            .unwrap();
        for output in [
            format!("Step 9/20 : {line}\n"),
            format!("#9 [deps 4/5] {line}"),
        ] {
            assert_eq!(
                python.announcement(&output),
                Some("Installing requirements with pip")
            );
        }
        assert_eq!(python.announcement("Step 1/20 : FROM base"), None);
    }
}
