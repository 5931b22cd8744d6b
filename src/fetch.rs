//! Downloads of URLs a user names (plugin tarballs, `git:from-archive`):
//! one function, http(s) only, with a size and a time limit.
//!
//! berth spawns curl with an argv list (the URL is one word after `--`)
//! rather than linking an HTTP client: curl follows the host's CA bundle
//! and proxy settings as operators set them up, and berth needs no TLS
//! stack of its own for two rare downloads. The body is read through a
//! bounded reader as well, so a server that sends no length cannot pass
//! the size limit.

use std::io::Read;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use crate::bounded;
use crate::error::{Error, Result};

/// How much a download may bring, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_time: Duration,
}

/// A plugin tarball (`plugin:install URL`).
pub const PLUGIN_TARBALL: Limits = Limits {
    max_bytes: 512 * 1024 * 1024,
    max_time: Duration::from_secs(600),
};

/// The arguments curl gets for `url`: fail on HTTP errors, follow
/// redirects within http(s), stop at the limits.
fn curl_args(url: &str, limits: &Limits) -> Vec<String> {
    let mut args: Vec<String> = [
        "--fail",
        "--silent",
        "--show-error",
        "--location",
        "--proto",
        "=http,https",
        "--proto-redir",
        "=http,https",
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "--max-filesize".to_string(),
        limits.max_bytes.to_string(),
        "--max-time".to_string(),
        limits.max_time.as_secs().max(1).to_string(),
        "--".to_string(),
        url.to_string(),
    ]);
    args
}

/// The body at `url`, refused past `limits`.
pub fn download(url: &str, limits: &Limits) -> Result<Vec<u8>> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Error::fail(format!(
            "Unable to download {url}: only http and https URLs are supported"
        )));
    }
    let mut child = Process::new("curl")
        .args(curl_args(url, limits))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::fail(format!("Unable to run curl to download {url}: {e}")))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let body = bounded::read_all(stdout, limits.max_bytes, &format!("the download of {url}"));
    if body.is_err() {
        let _ = child.kill();
    }
    let mut stderr = String::new();
    if let Some(err) = child.stderr.take() {
        let _ = err.take(64 * 1024).read_to_string(&mut stderr);
    }
    let status = child
        .wait()
        .map_err(|e| Error::fail(format!("Unable to download {url}: {e}")))?;
    let body = body?;
    if !status.success() {
        return Err(Error::fail(format!(
            "Unable to download {url}: {}",
            stderr.trim()
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_one_word_after_the_options() {
        let limits = Limits {
            max_bytes: 10,
            max_time: Duration::from_millis(10),
        };
        let args = curl_args("https://x/-o /etc/passwd", &limits);
        let end = args.len();
        assert_eq!(args[end - 2..], ["--", "https://x/-o /etc/passwd"]);
        assert!(args.windows(2).any(|w| w == ["--max-filesize", "10"]));
        assert!(args.windows(2).any(|w| w == ["--max-time", "1"]));
    }

    #[test]
    fn other_schemes_are_refused_before_anything_runs() {
        let message = download("file:///etc/passwd", &PLUGIN_TARBALL)
            .unwrap_err()
            .to_string();
        assert!(message.contains("only http and https"), "{message}");
    }
}
