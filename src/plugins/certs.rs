//! Dokku's `certs` plugin: an app's TLS certificate and key, kept where
//! Dokku keeps them (`$DOKKU_ROOT/<app>/tls/server.crt` and `server.key`,
//! the key 0600).
//!
//! Every certificate passes [`crate::tls::check`] before it is written
//! (parses, chain in order, key matches, not expired), so a refused one
//! changes nothing. An install fires `post-certs-update APP`, a removal
//! `post-certs-remove APP`, then the proxy is rebuilt: the ports plugin
//! adds or drops the `https` maps and nginx serves or stops serving TLS.
//!
//! Triggers answered: `certs-exists APP` (`true`|`false`), `certs-get APP
//! crt|key`, `certs-set APP CRT-FILE KEY-FILE`, `certs-remove APP`.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::app_name::AppName;
use crate::archive::{self, Content, Kind, Limits};
use crate::args::AppArg;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::report::{self, ReportSpec, Rows, Target};
use crate::store::atomic::{remove_file, write_atomic};
use crate::tls;

pub static PLUGIN: Plugin = Plugin {
    name: "certs",
    description: "Manage SSL (TLS) certificates",
    default_command: Some("certs:report"),
    commands: &[
        Command {
            name: "certs:add",
            usage: "<app> CRT KEY",
            description: "Add an ssl endpoint to an app. Can also import from a tarball on stdin",
            run: add,
        },
        Command {
            name: "certs:generate",
            usage: "<app> DOMAIN",
            description: "Generate a key and a self-signed certificate for an app",
            run: generate,
        },
        Command {
            name: "certs:remove",
            usage: "<app>",
            description: "Remove an SSL Endpoint from an app",
            run: remove,
        },
        Command {
            name: "certs:report",
            usage: "[<app>] [<flag>]",
            description: "Displays an ssl report for one or more apps",
            run: report,
        },
        Command {
            name: "certs:show",
            usage: "<app> <crt|key>",
            description: "Show the server.crt or server.key on stdout",
            run: show,
        },
        Command {
            name: "certs:update",
            usage: "<app> CRT KEY",
            description: "Update an SSL Endpoint on an app. Can also import from a tarball on stdin",
            run: update,
        },
    ],
    triggers: &[
        ("certs-exists", trigger_exists),
        ("certs-get", trigger_get),
        ("certs-remove", trigger_remove),
        ("certs-set", trigger_set),
    ],
};

/// The most a certificate or key file may hold (a long chain is ~10 KB).
const MAX_PEM: u64 = 1024 * 1024;

/// Where an app's certificate lives.
pub fn tls_dir(ctx: &Context, app: &AppName) -> PathBuf {
    ctx.store.app_dir(app).join("tls")
}

fn crt_path(ctx: &Context, app: &AppName) -> PathBuf {
    tls_dir(ctx, app).join("server.crt")
}

fn key_path(ctx: &Context, app: &AppName) -> PathBuf {
    tls_dir(ctx, app).join("server.key")
}

fn exists(ctx: &Context, app: &AppName) -> bool {
    crt_path(ctx, app).is_file() && key_path(ctx, app).is_file()
}

/// `certs:add|update <app> [CRT KEY]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct AddArgs {
    app: Option<String>,
    crt: Option<String>,
    key: Option<String>,
}

fn add(ctx: &Context, args: Vec<String>) -> Result<()> {
    install_from_args(ctx, "certs:add", &args)
}

fn update(ctx: &Context, args: Vec<String>) -> Result<()> {
    install_from_args(ctx, "certs:update", &args)
}

fn install_from_args(ctx: &Context, command: &str, args: &[String]) -> Result<()> {
    let args: AddArgs = crate::args::parse(command, args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let (crt, key) = match (args.crt, args.key) {
        (Some(crt), Some(key)) => {
            crate::access::refuse_server_file(
                ctx,
                command,
                &format!("{command} APP < cert-key.tar"),
            )?;
            (read_file(Path::new(&crt))?, read_file(Path::new(&key))?)
        }
        (Some(_), None) => {
            return Err(Error::fail(format!(
                "Please specify a key: {command} APP CRT KEY, or a tarball on stdin"
            )));
        }
        _ => from_tarball(std::io::stdin())?,
    };
    install(ctx, &app, &crt, &key)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::fail(format!("Unable to read {}: {e}", path.display())))?;
    crate::bounded::read_all(file, MAX_PEM, &path.display().to_string())
}

/// The `.crt` and `.key` of a tar (plain or gzipped) on stdin, wherever
/// they are in it; read under the archive rules of `git:from-archive`.
fn from_tarball(input: impl Read) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut input = input;
    let mut head = Vec::new();
    (&mut input)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| Error::fail(format!("Unable to read the tarball: {e}")))?;
    if head.is_empty() {
        return Err(Error::fail(
            "Please specify CRT and KEY, or pipe a tarball holding a .crt and a .key",
        ));
    }
    let kind = Kind::sniff(&head)?;
    if kind == Kind::Zip {
        return Err(Error::fail(
            "Expected a tar holding a .crt and a .key, not a zip",
        ));
    }
    let limits = Limits {
        max_bytes: 4 * MAX_PEM,
        max_files: 100,
        max_ratio: 200,
    };
    let entries = archive::read(std::io::Cursor::new(head).chain(input), kind, &limits)?;
    let find = |extension: &str| -> Result<Vec<u8>> {
        let mut found = entries.iter().filter_map(|entry| match &entry.content {
            Content::File { data, .. } if entry.path.ends_with(extension) => Some(data),
            _ => None,
        });
        let first = found
            .next()
            .ok_or_else(|| Error::fail(format!("The tarball holds no {extension} file")))?;
        if found.next().is_some() {
            return Err(Error::fail(format!(
                "The tarball holds more than one {extension} file"
            )));
        }
        Ok(first.clone())
    };
    Ok((find(".crt")?, find(".key")?))
}

/// Checks, writes, and tells the other plugins.
fn install(ctx: &Context, app: &AppName, crt: &[u8], key: &[u8]) -> Result<()> {
    let info = tls::check(crt, key, tls::now())?;
    ctx.out.info1(format!(
        "Adding certificate for {app}: {}",
        info.hostnames.join(" ")
    ))?;
    write_atomic(&key_path(ctx, app), key, 0o600)?;
    write_atomic(&crt_path(ctx, app), crt, 0o644)?;
    ctx.fire("post-certs-update", &[app.as_str()])?;
    ctx.fire("proxy-build-config", &[app.as_str()])?;
    Ok(())
}

/// `certs:generate <app> DOMAIN`: a self-signed certificate for DOMAIN,
/// installed, and DOMAIN added to the app's domains.
fn generate(ctx: &Context, args: Vec<String>) -> Result<()> {
    #[derive(clap::Parser)]
    #[command(disable_help_flag = true)]
    struct GenerateArgs {
        app: Option<String>,
        domain: Option<String>,
    }
    let args: GenerateArgs = crate::args::parse("certs:generate", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let domain = args
        .domain
        .ok_or_else(|| Error::fail("Please specify a domain"))?
        .to_lowercase();
    let (crt, key) = tls::self_signed(std::slice::from_ref(&domain), 365)?;
    ctx.fire("domains-add", &[app.as_str(), &domain])?;
    install(ctx, &app, crt.as_bytes(), key.as_bytes())
}

fn remove(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("certs:remove", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    remove_certificate(ctx, &app)
}

fn remove_certificate(ctx: &Context, app: &AppName) -> Result<()> {
    if !exists(ctx, app) {
        return Err(Error::fail(format!(
            "An app-specific SSL endpoint is not defined for {app}"
        )));
    }
    ctx.out.info1(format!("Removing SSL endpoint from {app}"))?;
    remove_file(&crt_path(ctx, app))?;
    remove_file(&key_path(ctx, app))?;
    ctx.fire("post-certs-remove", &[app.as_str()])?;
    ctx.fire("proxy-build-config", &[app.as_str()])?;
    Ok(())
}

fn show(ctx: &Context, args: Vec<String>) -> Result<()> {
    #[derive(clap::Parser)]
    #[command(disable_help_flag = true)]
    struct ShowArgs {
        app: Option<String>,
        kind: Option<String>,
    }
    let args: ShowArgs = crate::args::parse("certs:show", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let text = get(ctx, &app, args.kind.as_deref().unwrap_or_default())?;
    ctx.out.raw(&text)
}

fn get(ctx: &Context, app: &AppName, kind: &str) -> Result<Vec<u8>> {
    let path = match kind {
        "crt" => crt_path(ctx, app),
        "key" => key_path(ctx, app),
        _ => return Err(Error::fail("Please specify crt or key")),
    };
    if !exists(ctx, app) {
        return Err(Error::fail(format!(
            "An app-specific SSL endpoint is not defined for {app}"
        )));
    }
    std::fs::read(&path).map_err(|e| Error::fail(format!("Unable to read {}: {e}", path.display())))
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "certs:report",
        title: "ssl",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| match target {
        Target::App(app) => report_rows(ctx, app),
        Target::Global => Ok(Rows::new()),
    })
}

fn report_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let info = if exists(ctx, app) {
        std::fs::read(crt_path(ctx, app))
            .ok()
            .and_then(|pem| tls::inspect(&pem).ok())
    } else {
        None
    };
    let field = |f: &dyn Fn(&tls::CertInfo) -> String| info.as_ref().map(f).unwrap_or_default();
    Ok(vec![
        ("--ssl-dir".into(), tls_dir(ctx, app).display().to_string()),
        ("--ssl-enabled".into(), info.is_some().to_string()),
        ("--ssl-hostnames".into(), field(&|i| i.hostnames.join(" "))),
        (
            "--ssl-expires-at".into(),
            field(&|i| tls::format_time(i.not_after)),
        ),
        ("--ssl-issuer".into(), field(&|i| i.issuer.clone())),
        (
            "--ssl-starts-at".into(),
            field(&|i| tls::format_time(i.not_before)),
        ),
        ("--ssl-subject".into(), field(&|i| i.subject.clone())),
        // berth's: how the last automatic renewal went (Let's Encrypt).
        (
            "--ssl-renewal".into(),
            ctx.fire("certs-renewal", &[app.as_str()])?
                .trim()
                .to_string(),
        ),
        (
            "--ssl-verified".into(),
            field(&|i| {
                if i.self_signed {
                    "self signed".into()
                } else {
                    "verified by a certificate authority".into()
                }
            }),
        ),
    ])
}

// ----- triggers -----

fn trigger_exists(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    Ok(format!("{}\n", exists(ctx, &app)))
}

fn trigger_get(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let text = get(ctx, &app, args.get(1).map_or("", String::as_str))?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// `certs-set APP CRT-FILE KEY-FILE`: what Let's Encrypt installs through.
fn trigger_set(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let (Some(crt), Some(key)) = (args.get(1), args.get(2)) else {
        return Err(Error::fail("certs-set needs APP CRT-FILE KEY-FILE"));
    };
    install(
        ctx,
        &app,
        &read_file(Path::new(crt))?,
        &read_file(Path::new(key))?,
    )?;
    Ok(String::new())
}

fn trigger_remove(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    remove_certificate(ctx, &app)?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_path(path).unwrap();
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn the_crt_and_key_are_found_wherever_they_are() {
        let tar = tarball(&[
            ("nested/dir/example.crt", b"CERT"),
            ("keys/server.key", b"KEY"),
            ("README", b"x"),
        ]);
        let (crt, key) = from_tarball(&tar[..]).unwrap();
        assert_eq!(
            (crt.as_slice(), key.as_slice()),
            (&b"CERT"[..], &b"KEY"[..])
        );
    }

    #[test]
    fn tarballs_without_one_or_with_two_are_refused() {
        let only_crt = tarball(&[("server.crt", b"CERT")]);
        assert!(
            from_tarball(&only_crt[..])
                .unwrap_err()
                .to_string()
                .contains("no .key")
        );
        let two = tarball(&[("a.crt", b"1"), ("b.crt", b"2"), ("c.key", b"k")]);
        assert!(
            from_tarball(&two[..])
                .unwrap_err()
                .to_string()
                .contains("more than one .crt")
        );
        assert!(
            from_tarball(&b""[..])
                .unwrap_err()
                .to_string()
                .contains("Please specify")
        );
    }
}
