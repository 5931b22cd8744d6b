//! Certificates and keys: parsed and checked in Rust (x509-parser,
//! rcgen), never by spawning openssl.
//!
//! [`check`] is the one gate a certificate passes before berth installs it:
//! PEM that parses, a leaf first and each certificate issued by the next
//! one, a key that belongs to the leaf, and a validity period that has
//! begun and not ended. [`self_signed`] makes the certificate
//! `certs:generate` installs.

use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::PublicKeyData;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::X509Certificate;

use crate::error::{Error, Result};

/// What `certs:report` shows of an installed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// The names it covers: its DNS subject alternative names, else its
    /// common name.
    pub hostnames: Vec<String>,
    /// Issued by itself (no CA vouches for it).
    pub self_signed: bool,
}

impl CertInfo {
    /// Whether `host` is one of the names, a wildcard covering one label.
    pub fn covers(&self, host: &str) -> bool {
        self.hostnames
            .iter()
            .any(|name| match name.strip_prefix("*.") {
                Some(parent) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                None => name.eq_ignore_ascii_case(host),
            })
    }
}

/// The time now, in unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The DER blocks of `pem` labelled `label`.
fn pem_blocks(pem: &[u8], label: &str) -> Result<Vec<Vec<u8>>> {
    let mut blocks = Vec::new();
    for block in Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| Error::fail(format!("Invalid PEM: {e}")))?;
        if block.label == label {
            blocks.push(block.contents);
        }
    }
    Ok(blocks)
}

/// The certificates of a PEM chain, leaf first, as DER.
fn chain_ders(chain_pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    let ders = pem_blocks(chain_pem, "CERTIFICATE")
        .map_err(|e| Error::fail(format!("The certificate is not a PEM certificate: {e}")))?;
    if ders.is_empty() {
        return Err(Error::fail(
            "The certificate file holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(ders)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| Error::fail(format!("The certificate does not parse: {e}")))
}

fn info(cert: &X509Certificate<'_>) -> CertInfo {
    let mut hostnames: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if hostnames.is_empty()
        && let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
    {
        hostnames.push(cn.to_string());
    }
    CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        hostnames,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    }
}

/// What an installed chain says of itself (no checks beyond parsing).
pub fn inspect(chain_pem: &[u8]) -> Result<CertInfo> {
    let ders = chain_ders(chain_pem)?;
    Ok(info(&parse(&ders[0])?))
}

/// Checks a certificate chain and its key before they are installed, at
/// time `now`; returns the leaf's details. Each refusal says what is
/// wrong and nothing is changed by it.
pub fn check(chain_pem: &[u8], key_pem: &[u8], now: i64) -> Result<CertInfo> {
    let ders = chain_ders(chain_pem)?;
    let certs = ders
        .iter()
        .map(|der| parse(der))
        .collect::<Result<Vec<_>>>()?;
    for (position, pair) in certs.windows(2).enumerate() {
        let issued_by_next = pair[0].issuer().as_raw() == pair[1].subject().as_raw()
            && pair[0].verify_signature(Some(pair[1].public_key())).is_ok();
        if !issued_by_next {
            return Err(Error::fail(format!(
                "The certificate chain is out of order: certificate {} ({}) is not issued by the one after it ({}); put the server's certificate first, then each issuer",
                position + 1,
                pair[0].subject(),
                pair[1].subject()
            )));
        }
    }
    let leaf = &certs[0];
    let key = key_pair(key_pem)?;
    if key.subject_public_key_info() != leaf.public_key().raw {
        return Err(Error::fail(
            "The key does not match the certificate: it belongs to another certificate",
        ));
    }
    let info = info(leaf);
    if info.not_after <= now {
        return Err(Error::fail(format!(
            "The certificate expired on {}",
            format_time(info.not_after)
        )));
    }
    if info.not_before > now {
        return Err(Error::fail(format!(
            "The certificate is not valid before {}",
            format_time(info.not_before)
        )));
    }
    Ok(info)
}

/// A private key in PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE
/// KEY`) or SEC1 (`EC PRIVATE KEY`).
fn key_pair(key_pem: &[u8]) -> Result<rcgen::KeyPair> {
    let text = std::str::from_utf8(key_pem)
        .map_err(|_| Error::fail("The key is not a PEM private key"))?;
    if !text.contains("PRIVATE KEY-----") {
        return Err(Error::fail(
            "The key file holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
        ));
    }
    rcgen::KeyPair::from_pem(text).map_err(|e| Error::fail(format!("The key does not parse: {e}")))
}

/// A self-signed certificate for `names` (the first is its common name),
/// valid from now for `days`: (certificate PEM, key PEM).
pub fn self_signed(names: &[String], days: i64) -> Result<(String, String)> {
    let failed = |e: rcgen::Error| Error::fail(format!("Unable to make a certificate: {e}"));
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(failed)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.clone());
    }
    let start = now();
    let at = |seconds: i64| {
        time::OffsetDateTime::from_unix_timestamp(seconds)
            .map_err(|e| Error::fail(format!("Unable to make a certificate: {e}")))
    };
    params.not_before = at(start - 60)?;
    params.not_after = at(start + days * 86_400)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A time as Dokku's report prints it (openssl's format):
/// `Oct  5 23:59:59 2019 GMT`.
pub fn format_time(seconds: i64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
        return String::new();
    };
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    at.format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    /// A CA and a leaf it signs, valid from `from` to `until`.
    fn signed(leaf: &[&str], from: i64, until: i64) -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Test Root");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names(leaf)).unwrap();
        params.not_before = time::OffsetDateTime::from_unix_timestamp(from).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(until).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), ca.pem(), key.serialize_pem())
    }

    #[test]
    fn a_good_chain_and_its_key_pass() {
        let (leaf, ca, key) = signed(&["a.example.com"], now() - 10, now() + 86_400);
        let info = check(format!("{leaf}{ca}").as_bytes(), key.as_bytes(), now()).unwrap();
        assert_eq!(info.hostnames, ["a.example.com"]);
        assert!(info.issuer.contains("Test Root"), "{}", info.issuer);
        assert!(!info.self_signed);
        assert!(info.covers("a.example.com") && !info.covers("b.example.com"));
    }

    #[test]
    fn wrong_order_mismatched_key_expiry_and_garbage_are_refused() {
        let (leaf, ca, key) = signed(&["a.example.com"], now() - 10, now() + 86_400);
        let refused = |chain: &str, key: &str| {
            check(chain.as_bytes(), key.as_bytes(), now())
                .unwrap_err()
                .to_string()
        };
        assert!(refused(&format!("{ca}{leaf}"), &key).contains("out of order"));
        let (_, other_key) = self_signed(&names(&["x"]), 1).unwrap();
        assert!(refused(&leaf, &other_key).contains("does not match"));
        let (old, _, old_key) = signed(&["a.example.com"], now() - 200, now() - 100);
        assert!(refused(&old, &old_key).contains("expired on"));
        assert!(refused("garbage", &key).contains("no PEM certificate"));
        assert!(refused(&leaf, "garbage").contains("no PEM private key"));
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(refused(broken, &key).contains("does not parse"));
    }

    #[test]
    fn self_signed_certificates_cover_their_names() {
        let (cert, key) =
            self_signed(&names(&["app.example.com", "*.app.example.com"]), 365).unwrap();
        let info = check(cert.as_bytes(), key.as_bytes(), now()).unwrap();
        assert!(info.self_signed);
        assert!(info.covers("app.example.com"));
        assert!(info.covers("www.app.example.com"));
        assert!(!info.covers("a.b.app.example.com"));
        assert!(info.not_after - info.not_before > 364 * 86_400);
    }

    #[test]
    fn times_read_as_openssl_prints_them() {
        assert_eq!(format_time(1_570_319_999), "Oct  5 23:59:59 2019 GMT");
    }
}
