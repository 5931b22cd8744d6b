//! The server's Ed25519 host key: generated once, persisted at
//! `$DOKKU_LIB_ROOT/data/ssh/ssh_host_ed25519_key` (OpenSSH private key
//! format, mode 0600), and reused on every start so clients' `known_hosts`
//! stay valid.

use std::fs::DirBuilder;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};

use crate::error::{Error, IoContext, Result};
use crate::store::atomic::{FILE_MODE, create_new, ensure_dir};

/// `$DOKKU_LIB_ROOT/data/ssh/ssh_host_ed25519_key`.
pub fn path(lib_root: &Path) -> PathBuf {
    lib_root.join("data/ssh/ssh_host_ed25519_key")
}

/// The persisted host key, created on first use.
pub fn load_or_create(lib_root: &Path) -> Result<PrivateKey> {
    let path = path(lib_root);
    match load(&path) {
        Err(e) if e.kind() == ErrorKind::NotFound => create(&path),
        read => parse(&path, read),
    }
}

fn load(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

fn parse(path: &Path, read: std::io::Result<String>) -> Result<PrivateKey> {
    let text = read.at("Unable to read", path)?;
    PrivateKey::from_openssh(text.as_bytes()).map_err(|e| {
        Error::fail(format!(
            "Host key {} is not an OpenSSH private key ({e}); move it away to generate a new one",
            path.display()
        ))
    })
}

/// OpenSSH's fingerprint of the host key (`SHA256:…`).
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

fn create(path: &Path) -> Result<PrivateKey> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut seed))
        .at("Unable to read", Path::new("/dev/urandom"))?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment("berth host key");
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| Error::fail(format!("Unable to encode the host key: {e}")))?;
    if let Some(dir) = path.parent() {
        if let Some(parent) = dir.parent() {
            ensure_dir(parent)?;
        }
        match DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).at("Unable to create", dir),
        }
    }
    // Two servers starting together on a new volume: one key wins, and
    // both serve it.
    if create_new(path, text.as_bytes(), FILE_MODE)? {
        Ok(key)
    } else {
        parse(path, load(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(fingerprint(&first), fingerprint(&second));
        let file = path(dir.path());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn servers_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<String> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| fingerprint(&load_or_create(dir.path()).unwrap())))
                .collect();
            starts.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        assert_eq!(fingerprint(&load_or_create(dir.path()).unwrap()), keys[0]);
    }

    #[test]
    fn a_broken_key_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "garbage").unwrap();
        assert!(load_or_create(dir.path()).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "garbage");
    }
}
