//! What kind of app a commit holds, read from its files alone: the
//! zero-config builder's detection, in herokuish's order (Go, Node.js,
//! Python, static), and the runtime versions the app asks for.

use crate::error::{Error, Result};

/// The files of the build root, by relative path.
pub trait Files {
    fn get(&self, path: &str) -> Option<Vec<u8>>;

    fn has(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    fn text(&self, path: &str) -> Option<String> {
        self.get(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The stacks the zero-config builder knows, as `builder-auto:set stack` names them.
pub const STACKS: &[&str] = &["go", "node", "python", "static"];

/// What detection looked for, for the error when nothing matched.
pub const LOOKED_FOR: &str = "go.mod (Go), package.json (Node.js), requirements.txt, pyproject.toml, Pipfile (Python), index.html or public/index.html (static)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stack {
    Go(Go),
    Node(Node),
    Python(Python),
    Static(Static),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Go {
    /// The last element of go.mod's module path: the name of the root
    /// package's binary.
    pub binary: String,
    /// go.mod's `go` directive.
    pub version: Option<String>,
    /// A go.sum is there, to copy beside go.mod.
    pub sum: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeTool {
    /// `npm ci` with a package-lock.json (or npm-shrinkwrap.json), else `npm install`.
    Npm {
        locked: bool,
    },
    Yarn,
    Pnpm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub tool: NodeTool,
    /// package.json's `engines.node`.
    pub engines: Option<String>,
    /// package.json has a `build` script: run it, with devDependencies.
    pub build_script: bool,
    /// A `start` script that only runs `node FILE`: the web process runs
    /// it straight, so SIGTERM reaches node (npm does not pass it on)
    /// and it starts without loading npm.
    pub node_start: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonManifest {
    Requirements,
    Pyproject,
    Pipfile { locked: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Python {
    pub manifest: PythonManifest,
    /// The version asked for and where: (`runtime.txt`, `3.11.7`).
    pub version: Option<(String, String)>,
    /// The web process a Procfile-less app gets.
    pub web: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Static {
    /// `/app` or `/app/public`: what the web server serves.
    pub root: &'static str,
}

impl Stack {
    pub fn name(&self) -> &'static str {
        match self {
            Stack::Go(_) => "go",
            Stack::Node(_) => "node",
            Stack::Python(_) => "python",
            Stack::Static(_) => "static",
        }
    }

    /// Heroku's words for it: `-----> Python app detected`.
    pub fn title(&self) -> &'static str {
        match self {
            Stack::Go(_) => "Go",
            Stack::Node(_) => "Node.js",
            Stack::Python(_) => "Python",
            Stack::Static(_) => "Static site",
        }
    }

    /// The web process of an app without a Procfile (`$PORT` is expanded
    /// by the scheduler, not a shell).
    pub fn default_web(&self) -> Option<String> {
        match self {
            Stack::Go(go) => Some(format!("/app/bin/{}", go.binary)),
            Stack::Node(node) => Some(
                node.node_start
                    .clone()
                    .unwrap_or_else(|| "npm start".into()),
            ),
            Stack::Python(python) => python.web.clone(),
            Stack::Static(s) => Some(format!("busybox httpd -f -v -p $PORT -h {}", s.root)),
        }
    }
}

/// The stack of the files, `only` forcing one (`builder-auto:set stack`);
/// `None` when nothing matched.
pub fn detect(files: &dyn Files, only: Option<&str>) -> Result<Option<Stack>> {
    let wanted = |name: &str| only.is_none_or(|o| o == name);
    if wanted("go") && files.has("go.mod") {
        return Ok(Some(Stack::Go(go(files))));
    }
    if wanted("node") && files.has("package.json") {
        return Ok(Some(Stack::Node(node(files)?)));
    }
    if wanted("python")
        && let Some(python) = python(files)
    {
        return Ok(Some(Stack::Python(python)));
    }
    if wanted("static") {
        for (index, root) in [("index.html", "/app"), ("public/index.html", "/app/public")] {
            if files.has(index) {
                return Ok(Some(Stack::Static(Static { root })));
            }
        }
    }
    Ok(None)
}

fn go(files: &dyn Files) -> Go {
    let text = files.text("go.mod").unwrap_or_default();
    let mut module = None;
    let mut version = None;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("module"), Some(path)) => module = Some(path.trim_matches('"').to_string()),
            (Some("go"), Some(v)) => version = Some(v.to_string()),
            _ => {}
        }
    }
    let binary = module
        .as_deref()
        .and_then(|m| m.rsplit('/').next())
        .map(safe_name)
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "app".into());
    Go {
        binary,
        version,
        sum: files.has("go.sum"),
    }
}

/// Keeps the characters a file name and a Procfile word may hold.
fn safe_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

fn node(files: &dyn Files) -> Result<Node> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&files.get("package.json").unwrap_or_default())
            .map_err(|e| Error::fail(format!("Invalid package.json: {e}")))?;
    let tool = if files.has("pnpm-lock.yaml") {
        NodeTool::Pnpm
    } else if files.has("yarn.lock") {
        NodeTool::Yarn
    } else {
        NodeTool::Npm {
            locked: files.has("package-lock.json") || files.has("npm-shrinkwrap.json"),
        }
    };
    let engines = manifest
        .pointer("/engines/node")
        .and_then(|v| v.as_str())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let build_script = manifest
        .pointer("/scripts/build")
        .is_some_and(|v| v.is_string());
    let node_start = manifest
        .pointer("/scripts/start")
        .and_then(|v| v.as_str())
        .and_then(plain_node_start);
    Ok(Node {
        tool,
        engines,
        build_script,
        node_start,
    })
}

/// `node server.js` (one plain relative file, nothing a shell would
/// read differently), else `None`: `npm start` runs it.
fn plain_node_start(script: &str) -> Option<String> {
    let mut words = script.split_whitespace();
    let (Some("node"), Some(file), None) = (words.next(), words.next(), words.next()) else {
        return None;
    };
    let plain = !file.starts_with(['-', '/'])
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    plain.then(|| format!("node {file}"))
}

fn python(files: &dyn Files) -> Option<Python> {
    let manifest = if files.has("requirements.txt") {
        PythonManifest::Requirements
    } else if files.has("pyproject.toml") {
        PythonManifest::Pyproject
    } else if files.has("Pipfile") || files.has("Pipfile.lock") {
        PythonManifest::Pipfile {
            locked: files.has("Pipfile.lock"),
        }
    } else {
        return None;
    };
    let version = [("runtime.txt", "python-"), (".python-version", "")]
        .into_iter()
        .find_map(|(file, prefix)| {
            let text = files.text(file)?;
            let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
            let version = line.strip_prefix(prefix).unwrap_or(line);
            Some((file.to_string(), version.to_string()))
        });
    let dependencies = [
        "requirements.txt",
        "pyproject.toml",
        "Pipfile",
        "Pipfile.lock",
    ]
    .iter()
    .filter_map(|f| files.text(f))
    .collect::<String>()
    .to_ascii_lowercase();
    let web = python_web(files, &dependencies);
    Some(Python {
        manifest,
        version,
        web,
    })
}

/// The usual entry points: a WSGI app under gunicorn, an ASGI app under
/// uvicorn, else the script itself.
fn python_web(files: &dyn Files, dependencies: &str) -> Option<String> {
    let module = ["app", "main", "wsgi", "asgi", "server"]
        .into_iter()
        .find(|m| files.has(&format!("{m}.py")));
    let depends = |name: &str| dependencies.contains(name);
    match module {
        Some(m) if depends("gunicorn") => Some(format!("gunicorn --bind 0.0.0.0:$PORT {m}:app")),
        Some(m) if depends("uvicorn") => {
            Some(format!("uvicorn {m}:app --host 0.0.0.0 --port $PORT"))
        }
        Some(m) => Some(format!("python3 {m}.py")),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Tree(HashMap<&'static str, &'static str>);

    impl Files for Tree {
        fn get(&self, path: &str) -> Option<Vec<u8>> {
            self.0.get(path).map(|s| s.as_bytes().to_vec())
        }
    }

    fn tree(files: &[(&'static str, &'static str)]) -> Tree {
        Tree(files.iter().copied().collect())
    }

    #[test]
    fn herokuish_order_picks_node_over_python_and_stack_forces_one() {
        let both = tree(&[("package.json", "{}"), ("requirements.txt", "flask\n")]);
        assert_eq!(detect(&both, None).unwrap().unwrap().name(), "node");
        assert_eq!(
            detect(&both, Some("python")).unwrap().unwrap().name(),
            "python"
        );
        assert_eq!(detect(&both, Some("go")).unwrap(), None);
        assert_eq!(detect(&tree(&[("README", "")]), None).unwrap(), None);
    }

    #[test]
    fn python_web_follows_the_server_it_depends_on() {
        let flask = tree(&[
            ("requirements.txt", "Flask\ngunicorn==23\n"),
            ("app.py", ""),
        ]);
        let Some(Stack::Python(p)) = detect(&flask, None).unwrap() else {
            panic!()
        };
        assert_eq!(
            p.web.as_deref(),
            Some("gunicorn --bind 0.0.0.0:$PORT app:app")
        );
        let fastapi = tree(&[
            (
                "pyproject.toml",
                "[project]\ndependencies = [\"fastapi\", \"uvicorn\"]\n",
            ),
            ("main.py", ""),
            ("runtime.txt", "python-3.11.4\n"),
        ]);
        let Some(Stack::Python(p)) = detect(&fastapi, None).unwrap() else {
            panic!()
        };
        assert_eq!(p.manifest, PythonManifest::Pyproject);
        assert_eq!(
            p.web.as_deref(),
            Some("uvicorn main:app --host 0.0.0.0 --port $PORT")
        );
        assert_eq!(p.version, Some(("runtime.txt".into(), "3.11.4".into())));
    }

    #[test]
    fn node_tool_follows_the_lockfile_and_engines_are_read() {
        let app = tree(&[
            (
                "package.json",
                r#"{"engines":{"node":">=18"},"scripts":{"build":"tsc"}}"#,
            ),
            ("yarn.lock", ""),
        ]);
        let Some(Stack::Node(n)) = detect(&app, None).unwrap() else {
            panic!()
        };
        assert_eq!(n.tool, NodeTool::Yarn);
        assert_eq!(Stack::Node(n.clone()).default_web().unwrap(), "npm start");
        for (start, web) in [
            ("node server.js", "node server.js"),
            ("node --inspect server.js", "npm start"),
            ("node a.js && node b.js", "npm start"),
            ("node $(x)", "npm start"),
        ] {
            let node = Node {
                node_start: plain_node_start(start),
                ..n.clone()
            };
            assert_eq!(Stack::Node(node).default_web().unwrap(), web, "{start}");
        }
        assert_eq!(n.engines.as_deref(), Some(">=18"));
        assert!(n.build_script);
        let broken = tree(&[("package.json", "{")]);
        assert!(detect(&broken, None).is_err());
    }

    #[test]
    fn go_binary_is_the_module_name_made_safe() {
        let app = tree(&[("go.mod", "module example.com/me/hello-srv\n\ngo 1.19\n")]);
        let Some(Stack::Go(g)) = detect(&app, None).unwrap() else {
            panic!()
        };
        assert_eq!(g.binary, "hello-srv");
        assert_eq!(g.version.as_deref(), Some("1.19"));
        let odd = tree(&[("go.mod", "module \"../$(x)\"\n")]);
        let Some(Stack::Go(g)) = detect(&odd, None).unwrap() else {
            panic!()
        };
        assert_eq!(g.binary, "x");
    }

    #[test]
    fn static_sites_serve_the_folder_holding_index_html() {
        let Some(Stack::Static(s)) = detect(&tree(&[("public/index.html", "")]), None).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.root, "/app/public");
    }
}
