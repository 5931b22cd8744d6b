//! The Docker engine client: the only module that talks to the engine.
//!
//! A thin blocking façade over bollard (the CLI is synchronous; each
//! `Engine` owns a small tokio runtime). Errors name what failed and why,
//! so "engine down" and "disk full" reach the user as such.
//!
//! Architecture invariant: nothing outside `engine` calls bollard's client,
//! and berth never runs the docker CLI.

mod attach;
mod buildkit;
mod network;

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, ImageInspect,
    NetworkConnectRequest,
};
use bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, CreateContainerOptions, InspectContainerOptions,
    ListContainersOptions, LogsOptions, RemoveContainerOptions, RemoveImageOptions,
    RenameContainerOptions, StopContainerOptions, TagImageOptions,
};
use futures_util::StreamExt;

use crate::error::{Error, Result};

pub use attach::StdStream;
pub use bollard::models;
pub use network::{
    AppNetwork, NETWORK_ENV, NetworkInfo, Repair, app_network,
    is_valid_name as is_valid_network_name,
};

/// How often a build's [`BuildRequest::checkpoint`] is asked while the
/// builder prints nothing (a long `RUN` step).
const BUILD_CHECKPOINT: std::time::Duration = std::time::Duration::from_millis(250);

/// What a build needs: the context as a tar, and how to tag and label it.
pub struct BuildRequest {
    /// Shared, not copied, by a BuildKit attempt and its legacy fallback.
    pub context: bytes::Bytes,
    pub dockerfile: String,
    pub tag: String,
    pub labels: HashMap<String, String>,
    pub build_args: HashMap<String, String>,
    /// Build without the layer cache (`--no-cache` from `docker-args-build`).
    pub no_cache: bool,
    /// Pull newer base images first (`--pull`).
    pub pull: bool,
    /// The network of `RUN` steps (`--network NAME`).
    pub network: Option<String>,
    /// The stage to build (`--target STAGE`); the last one when `None`.
    pub target: Option<String>,
    /// Asked at least every quarter second while the build runs: an error
    /// stops it (the engine cancels a build whose client went away) and
    /// is what `build` returns (`builds:cancel`).
    pub checkpoint: Option<fn() -> Result<()>>,
    /// Build with BuildKit (cache mounts, `# syntax=`); the legacy
    /// builder when the engine has no BuildKit, saying so through
    /// `on_output`.
    pub buildkit: bool,
}

/// One container event: `start`, `die`, `stop`, … with the container's
/// id and attributes (its labels, `exitCode` for `die`).
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    pub action: String,
    pub id: String,
    pub attributes: HashMap<String, String>,
}

pub struct Engine {
    docker: Docker,
    runtime: tokio::runtime::Runtime,
}

impl Engine {
    /// Connects to the engine at `DOCKER_HOST` or the local socket, and
    /// agrees on an API version with it.
    pub fn connect() -> Result<Engine> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::fail(format!("Unable to start the engine client: {e}")))?;
        let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
        let docker = runtime
            .block_on(docker.negotiate_version())
            .map_err(unreachable)?;
        Ok(Engine { docker, runtime })
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    // ----- images -----

    /// Builds an image; `on_output` gets the builder's output as it comes.
    /// A failing build returns the builder's own error message.
    pub fn build(
        &self,
        request: BuildRequest,
        on_output: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        if !request.buildkit {
            return self.build_once(&request, false, on_output);
        }
        let mut printed = false;
        let built = self.build_once(&request, true, &mut |text| {
            printed = true;
            on_output(text)
        });
        match built {
            Err(e) if !printed && buildkit::unavailable(&e.to_string()) => {
                on_output(&format!(
                    " !     BuildKit is not available on this engine ({}): building with the legacy builder\n",
                    e.to_string().trim_end()
                ))?;
                self.build_once(&request, false, on_output)
            }
            other => other,
        }
    }

    fn build_once(
        &self,
        request: &BuildRequest,
        buildkit: bool,
        on_output: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        let options = BuildImageOptions {
            dockerfile: request.dockerfile.clone(),
            t: Some(request.tag.clone()),
            rm: true,
            forcerm: true,
            labels: Some(request.labels.clone()),
            buildargs: Some(request.build_args.clone()),
            nocache: request.no_cache,
            pull: request.pull.then(|| "1".to_string()),
            networkmode: request.network.clone(),
            target: request.target.clone().unwrap_or_default(),
            version: if buildkit {
                BuilderVersion::BuilderBuildKit
            } else {
                BuilderVersion::BuilderV1
            },
            // The context is the uploaded tar; the session only serves
            // registry credentials (none).
            session: buildkit.then(|| format!("berth-{}", std::process::id())),
            ..Default::default()
        };
        let checkpoint = request.checkpoint.unwrap_or(|| Ok(()));
        let mut progress = buildkit::Progress::default();
        self.block_on(async {
            let body = bollard::body_full(request.context.clone());
            let mut stream = self.docker.build_image(options, None, Some(body));
            loop {
                let next = tokio::time::timeout(BUILD_CHECKPOINT, stream.next()).await;
                checkpoint()?;
                let item = match next {
                    Err(_quiet) => continue,
                    Ok(None) => break,
                    Ok(Some(item)) => item,
                };
                let info = item.map_err(|e| engine_error("Image build failed", e))?;
                if let Some(detail) = info.error_detail {
                    let message = detail.message.unwrap_or_else(|| "unknown error".into());
                    return Err(Error::fail(format!(
                        "Image build failed: {}",
                        message.trim_end()
                    )));
                }
                if let Some(aux) = &info.aux {
                    let text = progress.text(aux);
                    if !text.is_empty() {
                        on_output(&text)?;
                    }
                }
                if let Some(text) = info.stream.or(info.status) {
                    on_output(&text)?;
                }
            }
            Ok(())
        })
    }

    /// The engine's version (`29.0.1`).
    pub fn version(&self) -> Result<String> {
        self.block_on(self.docker.version())
            .map(|v| v.version.unwrap_or_default())
            .map_err(|e| engine_error("Unable to ask the engine its version", e))
    }

    /// Whether the engine builds with BuildKit: a Linux engine with API
    /// 1.39 or newer (its `/session` endpoint).
    pub fn supports_buildkit(&self) -> bool {
        let Ok(version) = self.block_on(self.docker.version()) else {
            return false;
        };
        let api = version.api_version.unwrap_or_default();
        let mut parts = api.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let api = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        version.os.as_deref() == Some("linux") && api >= (1, 39)
    }

    pub fn tag(&self, image: &str, repo: &str, tag: &str) -> Result<()> {
        let options = TagImageOptions {
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
        };
        self.block_on(self.docker.tag_image(image, Some(options)))
            .map_err(|e| engine_error(&format!("Unable to tag {image} as {repo}:{tag}"), e))
    }

    /// The image, or `None` when the engine does not have it.
    pub fn image(&self, name: &str) -> Result<Option<ImageInspect>> {
        match self.block_on(self.docker.inspect_image(name)) {
            Ok(image) => Ok(Some(image)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(&format!("Unable to inspect image {name}"), e)),
        }
    }

    /// Removes the image `name`, keeping its untagged parents: they are
    /// the build cache another app's build may be using this very moment
    /// (pruning them failed such a build with "No such image").
    pub fn remove_image(&self, name: &str) -> Result<()> {
        let options = RemoveImageOptions {
            force: true,
            noprune: true,
            ..Default::default()
        };
        match self.block_on(self.docker.remove_image(name, Some(options), None)) {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(engine_error(&format!("Unable to remove image {name}"), e)),
        }
    }

    /// Commits container `id` as `repo:tag`, with the image config lines
    /// `changes` (Dockerfile instructions, one per line) applied.
    pub fn commit_container(&self, id: &str, repo: &str, tag: &str, changes: &str) -> Result<()> {
        let options = bollard::query_parameters::CommitContainerOptionsBuilder::new()
            .container(id)
            .repo(repo)
            .tag(tag)
            .changes(changes)
            .build();
        self.block_on(
            self.docker
                .commit_container(options, bollard::models::ContainerConfig::default()),
        )
        .map(|_| ())
        .map_err(|e| {
            engine_error(
                &format!("Unable to commit {} as {repo}:{tag}", short(id)),
                e,
            )
        })
    }

    /// Loads a `docker image save` archive read from `reader` (streamed,
    /// never held whole), refusing one larger than `limit` bytes. Returns
    /// the engine's messages (`Loaded image: name:tag`).
    pub fn load_image(
        &self,
        mut reader: impl std::io::Read + Send + 'static,
        limit: u64,
    ) -> Result<Vec<String>> {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
        let reading = std::thread::spawn(move || {
            let mut total = 0u64;
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let chunk = match reader.read(&mut buffer) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                        return Err(Error::fail(format!(
                            "Unable to read the image archive: {e}"
                        )));
                    }
                };
                total += chunk as u64;
                if total > limit {
                    let _ = tx.blocking_send(Err(std::io::Error::other("too large")));
                    return Err(Error::fail(format!(
                        "The image archive is larger than {}",
                        crate::bounded::human(limit)
                    )));
                }
                let bytes = bytes::Bytes::copy_from_slice(&buffer[..chunk]);
                if tx.blocking_send(Ok(bytes)).is_err() {
                    return Ok(());
                }
            }
        });
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build();
        let loaded = self.block_on(async {
            let mut stream = self.docker.import_image_stream(options, body, None);
            let mut messages = Vec::new();
            while let Some(item) = stream.next().await {
                let info = item.map_err(|e| engine_error("Unable to load the image", e))?;
                if let Some(text) = info.stream.or(info.status) {
                    messages.push(text.trim().to_string());
                }
            }
            Ok::<_, Error>(messages)
        });
        let read = reading
            .join()
            .unwrap_or_else(|_| Err(Error::fail("The image reader panicked")));
        // A refused archive explains itself better than the engine does.
        read?;
        loaded
    }

    /// Ids of the untagged (dangling) images carrying every `key=value`
    /// label given.
    pub fn dangling_images(&self, labels: &[(&str, &str)]) -> Result<Vec<String>> {
        let filters = HashMap::from([
            ("dangling".to_string(), vec!["true".to_string()]),
            (
                "label".to_string(),
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            ),
        ]);
        let options = bollard::query_parameters::ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        };
        let images = self
            .block_on(self.docker.list_images(Some(options)))
            .map_err(|e| engine_error("Unable to list images", e))?;
        Ok(images.into_iter().map(|i| i.id).collect())
    }

    /// The images of repository `repo`: each id with its `repo:tag` names.
    pub fn images_of(&self, repo: &str) -> Result<Vec<(String, Vec<String>)>> {
        let filters = HashMap::from([("reference".to_string(), vec![format!("{repo}:*")])]);
        let options = bollard::query_parameters::ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        };
        let images = self
            .block_on(self.docker.list_images(Some(options)))
            .map_err(|e| engine_error("Unable to list images", e))?;
        Ok(images.into_iter().map(|i| (i.id, i.repo_tags)).collect())
    }

    /// Names (`repo:tag`) of the images whose repository is `repo`.
    pub fn image_tags(&self, repo: &str) -> Result<Vec<String>> {
        Ok(self
            .images_of(repo)?
            .into_iter()
            .flat_map(|(_, tags)| tags)
            .collect())
    }

    // ----- networks -----

    /// Connects container `id` to network `name`. Already connected counts
    /// as done.
    pub fn connect_network(&self, name: &str, id: &str) -> Result<()> {
        let request = NetworkConnectRequest {
            container: id.to_string(),
            endpoint_config: None,
        };
        match self.block_on(self.docker.connect_network(name, request)) {
            Ok(()) => Ok(()),
            // The engine answers 403 (older: 500) "already exists in network".
            Err(e) if is_already_connected(&e) => Ok(()),
            Err(e) => Err(engine_error(
                &format!(
                    "Unable to connect container {} to network {name}",
                    short(id)
                ),
                e,
            )),
        }
    }

    // ----- containers -----

    /// Creates the container `name`. Engines before API 1.44 take one
    /// network at create, so every endpoint but the container's own
    /// network's is connected right after (with its aliases), before
    /// anything starts it.
    pub fn create_container(&self, name: &str, mut body: ContainerCreateBody) -> Result<String> {
        let own = body
            .host_config
            .as_ref()
            .and_then(|host| host.network_mode.clone())
            .unwrap_or_default();
        let mut later = Vec::new();
        if let Some(endpoints) = body
            .networking_config
            .as_mut()
            .and_then(|config| config.endpoints_config.as_mut())
            && endpoints.len() > 1
        {
            let others: Vec<String> = endpoints.keys().filter(|n| **n != own).cloned().collect();
            for network in others {
                if let Some(endpoint) = endpoints.remove(&network) {
                    later.push((network, endpoint.aliases.unwrap_or_default()));
                }
            }
        }
        let options = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        let id = self
            .block_on(self.docker.create_container(Some(options), body))
            .map(|r| r.id)
            .map_err(|e| engine_error(&format!("Unable to create container {name}"), e))?;
        for (network, aliases) in later {
            if let Err(e) = self.connect_network_with_aliases(&network, &id, &aliases) {
                let _ = self.remove_container(&id);
                return Err(e);
            }
        }
        Ok(id)
    }

    pub fn start_container(&self, id: &str) -> Result<()> {
        self.block_on(self.docker.start_container(id, None))
            .map_err(|e| engine_error(&format!("Unable to start container {}", short(id)), e))
    }

    /// Stops a container (SIGTERM, then SIGKILL after `timeout` seconds).
    /// A missing container counts as stopped.
    pub fn stop_container(&self, id: &str, timeout: i32) -> Result<()> {
        let options = StopContainerOptions {
            t: Some(timeout),
            ..Default::default()
        };
        match self.block_on(self.docker.stop_container(id, Some(options))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) || is_not_modified(&e) => Ok(()),
            Err(e) => Err(engine_error(
                &format!("Unable to stop container {}", short(id)),
                e,
            )),
        }
    }

    /// Removes a container, running or not. A missing one counts as removed.
    pub fn remove_container(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match self.block_on(self.docker.remove_container(id, Some(options))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // Already being removed (e.g. --rm): the engine finishes it.
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(engine_error(
                &format!("Unable to remove container {}", short(id)),
                e,
            )),
        }
    }

    pub fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        let options = RenameContainerOptions {
            name: name.to_string(),
        };
        self.block_on(self.docker.rename_container(id, options))
            .map_err(|e| {
                engine_error(
                    &format!("Unable to rename container {} to {name}", short(id)),
                    e,
                )
            })
    }

    /// The container, or `None` when it does not exist.
    pub fn inspect_container(&self, id: &str) -> Result<Option<ContainerInspectResponse>> {
        match self.block_on(
            self.docker
                .inspect_container(id, None::<InspectContainerOptions>),
        ) {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(
                &format!("Unable to inspect container {}", short(id)),
                e,
            )),
        }
    }

    /// The mounts of the container berth itself runs in, as `(source,
    /// destination)` pairs: the container named by this host's hostname
    /// (Docker sets it to the container id). Empty when the engine knows
    /// no such container (berth runs on the host, or beside another engine).
    pub fn own_mounts(&self) -> Result<Vec<(String, String)>> {
        let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let hostname = hostname.trim();
        if hostname.is_empty() {
            return Ok(Vec::new());
        }
        let Some(container) = self.inspect_container(hostname)? else {
            return Ok(Vec::new());
        };
        Ok(container
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| Some((m.source?, m.destination?)))
            .collect())
    }

    /// Containers (running or not) carrying every `key=value` label given.
    pub fn containers(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>> {
        let filters = HashMap::from([(
            "label".to_string(),
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        self.block_on(self.docker.list_containers(Some(options)))
            .map_err(|e| engine_error("Unable to list containers", e))
    }

    /// Streams a container's logs to `on_chunk` (stdout and stderr apart).
    pub fn logs(
        &self,
        id: &str,
        tail: Option<u64>,
        follow: bool,
        timestamps: bool,
        on_chunk: &mut dyn FnMut(StdStream, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let options = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            timestamps,
            tail: tail.map_or_else(|| "all".to_string(), |n| n.to_string()),
            ..Default::default()
        };
        self.block_on(async {
            let mut stream = self.docker.logs(id, Some(options));
            while let Some(item) = stream.next().await {
                let output = item.map_err(|e| engine_error("Unable to read logs", e))?;
                let (which, bytes) = attach::split_output(output);
                on_chunk(which, &bytes)?;
            }
            Ok(())
        })
    }

    /// [`Engine::logs`] as whole lines (with their `\n`; the last one as
    /// it ends), both streams, to `on_line`.
    pub fn log_lines(
        &self,
        id: &str,
        tail: Option<u64>,
        follow: bool,
        timestamps: bool,
        on_line: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut pending = Vec::new();
        self.logs(id, tail, follow, timestamps, &mut |_, bytes| {
            pending.extend_from_slice(bytes);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                on_line(&line)?;
            }
            Ok(())
        })?;
        if !pending.is_empty() {
            on_line(&pending)?;
        }
        Ok(())
    }

    /// Follows the engine's container events that carry every `key=value`
    /// label given, calling `on_event` with each, and with `None` when half
    /// a second passed without one (so the caller can stop: it returns
    /// `false` to end the watch). Returns an error when the engine goes
    /// away (it restarted): the caller reconnects.
    pub fn watch_events(
        &self,
        labels: &[(&str, &str)],
        on_event: &mut dyn FnMut(Option<ContainerEvent>) -> bool,
    ) -> Result<()> {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "label".to_string(),
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            ),
        ]);
        let options = bollard::query_parameters::EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        self.block_on(async {
            let mut stream = self.docker.events(Some(options));
            loop {
                match tokio::time::timeout(std::time::Duration::from_millis(500), stream.next())
                    .await
                {
                    Err(_idle) => {
                        if !on_event(None) {
                            return Ok(());
                        }
                    }
                    Ok(None) => return Err(Error::fail("The engine closed its event stream")),
                    Ok(Some(Err(e))) => return Err(engine_error("Unable to follow events", e)),
                    Ok(Some(Ok(message))) => {
                        let actor = message.actor.unwrap_or_default();
                        let event = ContainerEvent {
                            action: message.action.unwrap_or_default(),
                            id: actor.id.unwrap_or_default(),
                            attributes: actor.attributes.unwrap_or_default(),
                        };
                        if !on_event(Some(event)) {
                            return Ok(());
                        }
                    }
                }
            }
        })
    }

    /// Waits for a container to exit; returns its exit code.
    pub fn wait_container(&self, id: &str) -> Result<i64> {
        self.block_on(async {
            let mut stream = self.docker.wait_container(id, None);
            match stream.next().await {
                Some(Ok(response)) => Ok(response.status_code),
                // bollard reports a non-zero exit as an error carrying the code.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    Ok(code)
                }
                Some(Err(e)) => Err(engine_error("Unable to wait for container", e)),
                None => Ok(0),
            }
        })
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn status_code(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    status_code(e) == Some(404)
}

fn is_conflict(e: &bollard::errors::Error) -> bool {
    status_code(e) == Some(409)
}

fn is_already_connected(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { message, .. }
        if message.contains("already exists"))
}

fn is_not_modified(e: &bollard::errors::Error) -> bool {
    status_code(e) == Some(304)
}

fn unreachable(e: bollard::errors::Error) -> Error {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    Error::fail(format!(
        "Unable to reach the Docker engine at {host}: {e} (is dockerd running, and is its socket mounted?)"
    ))
}

/// An engine failure as the user should read it: what berth tried, and the
/// engine's own words (which name the cause: no space left, no such image…).
fn engine_error(action: &str, e: bollard::errors::Error) -> Error {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            Error::fail(format!("{action}: {message}"))
        }
        e @ (bollard::errors::Error::HyperResponseError { .. }
        | bollard::errors::Error::IOError { .. }) => unreachable(e),
        other => Error::fail(format!("{action}: {other}")),
    }
}
