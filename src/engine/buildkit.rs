//! BuildKit's progress, as the plain text `docker build --progress=plain`
//! prints: the engine streams it as `moby.buildkit.trace` messages (one
//! protobuf `StatusResponse` each, decoded by bollard); berth numbers the
//! steps and prints their names, logs, `CACHED`, `DONE` and errors.

use std::collections::HashMap;

use bollard::models::BuildInfoAux;

/// Turns status updates into lines, each step once.
#[derive(Default)]
pub struct Progress {
    /// Vertex digest → (its number, what was printed of it).
    steps: HashMap<String, (usize, Printed)>,
}

#[derive(Default, Clone, Copy)]
struct Printed {
    name: bool,
    cached: bool,
    done: bool,
}

impl Progress {
    /// The text for one trace message (empty when nothing new happened).
    pub fn text(&mut self, aux: &BuildInfoAux) -> String {
        let BuildInfoAux::BuildKit(status) = aux else {
            return String::new();
        };
        let mut out = String::new();
        for vertex in &status.vertexes {
            // The engine names every step up front; a step is numbered and
            // printed when it starts, as `docker build --progress=plain` does.
            let begun = vertex.started.is_some() || vertex.cached || vertex.completed.is_some();
            if !begun {
                continue;
            }
            let next = self.steps.len() + 1;
            let (n, printed) = self
                .steps
                .entry(vertex.digest.clone())
                .or_insert((next, Printed::default()));
            if !printed.name && !vertex.name.is_empty() {
                printed.name = true;
                out.push_str(&format!("#{n} {}\n", vertex.name));
            }
            if vertex.cached && !printed.cached {
                printed.cached = true;
                out.push_str(&format!("#{n} CACHED\n"));
            }
            if vertex.completed.is_some() && !printed.done {
                printed.done = true;
                if !vertex.error.is_empty() {
                    out.push_str(&format!("#{n} ERROR: {}\n", vertex.error));
                } else if !vertex.cached && !printed.cached {
                    out.push_str(&format!("#{n} DONE\n"));
                }
            }
        }
        for log in &status.logs {
            let n = self.number(&log.vertex);
            let text = String::from_utf8_lossy(&log.msg);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                out.push_str(&format!("#{n} {line}\n"));
            }
        }
        out
    }

    fn number(&mut self, digest: &str) -> usize {
        let next = self.steps.len() + 1;
        self.steps
            .entry(digest.to_string())
            .or_insert((next, Printed::default()))
            .0
    }
}

/// The engine cannot run BuildKit (disabled, or an engine without it):
/// the legacy builder is the fallback.
pub fn unavailable(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("buildkit not supported")
        || message.contains("buildkit is not supported")
        || message.contains("session") && (message.contains("not found") || message.contains("404"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::moby::buildkit::v1::{StatusResponse, Vertex, VertexLog};
    use bollard::models::ImageId;

    fn vertex(digest: &str, name: &str, cached: bool, done: bool) -> Vertex {
        Vertex {
            digest: digest.into(),
            name: name.into(),
            cached,
            started: Some(Default::default()),
            completed: done.then(Default::default),
            ..Default::default()
        }
    }

    #[test]
    fn steps_are_numbered_once_and_logs_follow_their_step() {
        let mut progress = Progress::default();
        let named = StatusResponse {
            vertexes: vec![Vertex {
                started: None,
                ..vertex("a", "[1/2] FROM base", false, false)
            }],
            ..Default::default()
        };
        assert_eq!(progress.text(&BuildInfoAux::BuildKit(named)), "");
        let first = StatusResponse {
            vertexes: vec![vertex("a", "[1/2] FROM base", false, false)],
            ..Default::default()
        };
        assert_eq!(
            progress.text(&BuildInfoAux::BuildKit(first.clone())),
            "#1 [1/2] FROM base\n"
        );
        assert_eq!(progress.text(&BuildInfoAux::BuildKit(first)), "");
        let second = StatusResponse {
            vertexes: vec![
                vertex("a", "[1/2] FROM base", false, true),
                vertex("b", "[2/2] RUN pip install", true, true),
            ],
            logs: vec![VertexLog {
                vertex: "a".into(),
                msg: b"hello\n\nworld\n".to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            progress.text(&BuildInfoAux::BuildKit(second)),
            "#1 DONE\n#2 [2/2] RUN pip install\n#2 CACHED\n#1 hello\n#1 world\n"
        );
        let image = BuildInfoAux::Default(ImageId::default());
        assert_eq!(progress.text(&image), "");
    }

    #[test]
    fn only_a_missing_buildkit_falls_back() {
        assert!(unavailable("buildkit not supported by daemon"));
        assert!(!unavailable(
            "failed to solve: process \"npm ci\" did not complete"
        ));
    }
}
