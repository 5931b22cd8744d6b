//! An ACME client (RFC 8555) for Let's Encrypt and its kin, on
//! instant-acme: accounts kept on the volume, HTTP-01 challenges answered
//! by berth's nginx, certificates issued and revoked.
//!
//! The rest of berth is synchronous: each call runs instant-acme on a
//! current-thread tokio runtime it owns. Challenge answers are files under
//! [`crate::nginx::acme_challenge_root`]`/<domain>/.well-known/
//! acme-challenge/<token>`, which nginx serves for that domain only, from
//! the app's server or, before the app is routed, the default server.
//!
//! The ACME server's TLS certificate is checked against the system's
//! roots, or only against the CA in `BERTH_ACME_CA` (a PEM file) when set:
//! the setting for test servers such as pebble.

use std::path::{Path, PathBuf};
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy, RevocationRequest,
};

use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::atomic::{ensure_dir, remove_file, write_atomic};

/// Let's Encrypt's directories, as dokku-letsencrypt names them.
pub const PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The environment variable naming the only CA an ACME server's TLS
/// certificate is checked against.
pub const CA_VARIABLE: &str = "BERTH_ACME_CA";

/// How long an order may take from challenges to certificate.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

/// The directory URL a `server` property value means: `default`,
/// `staging`, or a URL.
pub fn directory_url(server: &str) -> String {
    match server {
        "" | "default" => PRODUCTION.to_string(),
        "staging" => STAGING.to_string(),
        url => url.to_string(),
    }
}

/// An account on one ACME server, for one email.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    account: Account,
}

fn failed(what: &str) -> impl Fn(instant_acme::Error) -> Error + '_ {
    move |e| Error::fail(format!("{what}: {}", describe(&e)))
}

/// The ACME server's own words when it gave any.
fn describe(e: &instant_acme::Error) -> String {
    match e {
        instant_acme::Error::Api(problem) => match &problem.detail {
            Some(detail) => detail.clone(),
            None => format!("{problem:?}"),
        },
        other => other.to_string(),
    }
}

/// Where the credentials of the account for (`url`, `email`) are kept:
/// a name spelled from both, so it stays the same across berth versions
/// (a hash of std's would not).
fn account_path(store: &Store, url: &str, email: &str) -> PathBuf {
    let name: String = format!("{email}@{url}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    store
        .lib_root()
        .join("data/letsencrypt/accounts")
        .join(format!("{name}.json"))
}

impl Client {
    /// The account for `email` on the server at `url`, created on first use
    /// and kept on the volume (0600) from then on.
    pub fn account(store: &Store, url: &str, email: &str) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::fail(format!("Unable to start the ACME client: {e}")))?;
        let builder = || match std::env::var_os(CA_VARIABLE).filter(|v| !v.is_empty()) {
            Some(ca) => Account::builder_with_root(Path::new(&ca)),
            None => Account::builder(),
        };
        let path = account_path(store, url, email);
        let saved: Option<AccountCredentials> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        let account = runtime.block_on(async {
            let builder = builder().map_err(failed("Unable to reach the ACME server"))?;
            if let Some(credentials) = saved {
                return builder
                    .from_credentials(credentials)
                    .await
                    .map_err(failed("Unable to use the ACME account"));
            }
            let contact = format!("mailto:{email}");
            let (account, credentials) = builder
                .create(
                    &NewAccount {
                        contact: &[&contact],
                        terms_of_service_agreed: true,
                        only_return_existing: false,
                    },
                    url.to_string(),
                    None,
                )
                .await
                .map_err(failed(&format!("Unable to register with {url}")))?;
            let text = serde_json::to_string_pretty(&credentials)
                .map_err(|e| Error::fail(format!("Unable to save the ACME account: {e}")))?;
            write_atomic(&path, text.as_bytes(), 0o600)?;
            Ok::<_, Error>(account)
        })?;
        Ok(Client { runtime, account })
    }

    /// A certificate for `domains` through HTTP-01 challenges whose answers
    /// are put under `challenges` (and taken away after): the chain (leaf
    /// first) and its new key, both PEM.
    pub fn issue(&self, domains: &[String], challenges: &Path) -> Result<(String, String)> {
        let mut published = Vec::new();
        let result = self.runtime.block_on(async {
            let identifiers: Vec<Identifier> =
                domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
            let mut order = self
                .account
                .new_order(&NewOrder::new(&identifiers))
                .await
                .map_err(failed("The ACME server refused the order"))?;
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization =
                    authorization.map_err(failed("Unable to read an authorization"))?;
                match authorization.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => continue,
                    status => {
                        return Err(Error::fail(format!(
                            "The ACME server's authorization is {status:?}"
                        )));
                    }
                }
                let mut challenge = authorization
                    .challenge(ChallengeType::Http01)
                    .ok_or_else(|| Error::fail("The ACME server offers no HTTP-01 challenge"))?;
                let domain = challenge.identifier().to_string();
                let file = challenge_file(challenges, &domain, &challenge.token)?;
                let answer = challenge.key_authorization();
                write_atomic(&file, answer.as_str().as_bytes(), 0o644)?;
                published.push(file);
                challenge
                    .set_ready()
                    .await
                    .map_err(failed("Unable to start the challenge"))?;
            }
            let retry = RetryPolicy::new()
                .initial_delay(Duration::from_millis(250))
                .backoff(1.5)
                .timeout(ORDER_TIMEOUT);
            match order.poll_ready(&retry).await {
                Ok(OrderStatus::Ready) => {}
                Ok(status) => {
                    return Err(Error::fail(format!(
                        "The challenge failed: the order is {status:?} (can the ACME server reach http://{}/.well-known/acme-challenge/ through berth's nginx?)",
                        domains.first().map_or("", String::as_str)
                    )));
                }
                Err(e) => return Err(failed("The challenge failed")(e)),
            }
            let key = order
                .finalize()
                .await
                .map_err(failed("Unable to finalize the order"))?;
            let chain = order
                .poll_certificate(&retry)
                .await
                .map_err(failed("Unable to download the certificate"))?;
            Ok((chain, key))
        });
        for file in published {
            let _ = remove_file(&file);
        }
        result
    }

    /// Revokes the certificate at the head of `chain_pem`.
    pub fn revoke(&self, chain_pem: &[u8]) -> Result<()> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(chain_pem)
            .map_err(|e| Error::fail(format!("The certificate does not parse: {e}")))?;
        self.runtime.block_on(async {
            self.account
                .revoke(&RevocationRequest {
                    certificate: &der,
                    reason: None,
                })
                .await
                .map_err(failed("The ACME server refused the revocation"))
        })
    }
}

/// Where nginx finds the answer to `token` for `domain`. A token is
/// base64url (RFC 8555 §8.1); anything else is refused before it becomes a
/// file name.
fn challenge_file(root: &Path, domain: &str, token: &str) -> Result<PathBuf> {
    let token_ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let domain_ok = !domain.is_empty()
        && !domain.starts_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !token_ok || !domain_ok || domain.contains("..") {
        return Err(Error::fail(format!(
            "Refusing the ACME challenge for {domain}: unexpected token or name"
        )));
    }
    let dir = root.join(domain).join(".well-known/acme-challenge");
    ensure_dir(&dir)?;
    Ok(dir.join(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_resolve_as_dokku_letsencrypt_does() {
        assert_eq!(directory_url("default"), PRODUCTION);
        assert_eq!(directory_url(""), PRODUCTION);
        assert_eq!(directory_url("staging"), STAGING);
        assert_eq!(
            directory_url("https://localhost:14000/dir"),
            "https://localhost:14000/dir"
        );
    }

    #[test]
    fn account_files_are_named_by_email_and_server() {
        let store = Store::new("/h", "/l");
        let path = account_path(&store, "https://localhost:14000/dir", "ops@example.com");
        assert_eq!(
            path,
            Path::new(
                "/l/data/letsencrypt/accounts/ops@example.com@https___localhost_14000_dir.json"
            )
        );
        assert_ne!(path, account_path(&store, STAGING, "ops@example.com"));
    }

    #[test]
    fn challenge_files_stay_under_their_domain() {
        let dir = tempfile::tempdir().unwrap();
        let file = challenge_file(dir.path(), "app.example.com", "tok_EN-1").unwrap();
        assert_eq!(
            file,
            dir.path()
                .join("app.example.com/.well-known/acme-challenge/tok_EN-1")
        );
        for (domain, token) in [
            ("app.example.com", "../../etc"),
            ("../x", "t"),
            ("a..b", "t"),
            ("a/b", "t"),
            ("", "t"),
        ] {
            assert!(
                challenge_file(dir.path(), domain, token).is_err(),
                "{domain} {token}"
            );
        }
    }
}
