//! Dokku's `ssh-keys` plugin: the public keys allowed to connect over SSH
//! (as user `dokku`), kept in Dokku's own `$DOKKU_ROOT/.ssh/authorized_keys`
//! in sshcommand's format. The SSH server authenticates against the same
//! file through the same parser ([`crate::authorized_keys`]).
//!
//! Every key has a role ([`Role`]): `ssh-keys:add --role admin|user`,
//! `ssh-keys:set NAME role ROLE`, shown by `ssh-keys:list`. While no key
//! is an admin, the first key added on the command line becomes one, so a
//! fresh platform (or one upgraded from before roles) gets its admin from
//! `docker exec -i berth dokku ssh-keys:add NAME < key.pub`.
//!
//! Deliberate differences from Dokku: names are limited to letters, digits,
//! `.`, `_`, `@` and `-` (the name is embedded in a quoted command); a key
//! arrives by path or on any stdin that is not a terminal (Dokku wants a
//! pipe), and over SSH by stdin only; keys are validated in-process, not
//! with `ssh-keygen`.

use std::io::IsTerminal;
use std::path::Path;

use clap::Parser;
use serde::Serialize;

use crate::authorized_keys::{
    self, AuthorizedKeys, DEFAULT_ALLOWED_KEYS, KeyEntry, Role, parse_public_key,
    valid_allowed_keys, valid_name,
};
use crate::context::Context;
use crate::error::{Error, IoContext, Result};
use crate::plugins::{Command, Plugin};

pub static PLUGIN: Plugin = Plugin {
    name: "ssh-keys",
    description: "Manage public keys used for deployment",
    default_command: None,
    commands: &[
        Command {
            name: "ssh-keys:add",
            usage: "[--role admin|user] <name> [/path/to/key]",
            description: "Add a new public key by pipe or path",
            run: add,
        },
        Command {
            name: "ssh-keys:list",
            usage: "[--format text|json] [<name>]",
            description: "List the public keys allowed to connect",
            run: list,
        },
        Command {
            name: "ssh-keys:remove",
            usage: "<name>|--fingerprint <fingerprint>",
            description: "Remove a public key by name or fingerprint",
            run: remove,
        },
        Command {
            name: "ssh-keys:set",
            usage: "<name> role admin|user",
            description: "Set what a key may do: admin (everything) or user (app commands)",
            run: set,
        },
    ],
    triggers: &[],
};

/// sshcommand's override of the key options of new entries.
const ALLOWED_KEYS_ENV: &str = "SSHCOMMAND_ALLOWED_KEYS";

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct AddArgs {
    #[arg(long)]
    role: Option<String>,
    name: Option<String>,
    file: Option<String>,
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct SetArgs {
    name: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct ListArgs {
    #[arg(long, default_value = "text")]
    format: String,
    name: Option<String>,
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct RemoveArgs {
    #[arg(long)]
    fingerprint: Option<String>,
    name: Option<String>,
}

fn add(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AddArgs = crate::args::parse("ssh-keys:add", &args)?;
    let name = args.name.filter(|n| !n.is_empty()).ok_or_else(|| {
        Error::fail("A name is required to add a key, ie: dokku ssh-keys:add <name> [/path/to/key]")
    })?;
    if !valid_name(&name) {
        return Err(Error::fail(format!(
            "Invalid key name {name:?}: use letters, digits, '.', '_', '@' and '-'"
        )));
    }
    let role = args.role.as_deref().map(Role::parse).transpose()?;
    let allowed_keys = allowed_keys()?;
    let remote = ctx.caller()?.is_remote();
    let text = match args.file {
        Some(file) => {
            crate::access::refuse_server_file(ctx, "ssh-keys:add", "ssh-keys:add NAME < key.pub")?;
            let path = Path::new(&file);
            let file = std::fs::File::open(path).at("Unable to read key file", path)?;
            crate::bounded::read_text(file, crate::bounded::KEY_LINE, "The key file")?
        }
        None => first_line_of_stdin()?,
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let line = match lines.as_slice() {
        [] => return Err(Error::fail("Empty key was specified")),
        [line] => line.trim(),
        _ => {
            return Err(Error::fail(
                "Too many keys provided, set one per invocation of dokku ssh-keys:add <NAME> <KEY_FILE>",
            ));
        }
    };
    let key = parse_public_key(line)
        .ok_or_else(|| Error::fail("Key specified in is not a valid ssh public key"))?;
    let dokku_root = ctx.store.dokku_root();
    let mut first_admin = false;
    let fingerprint = authorized_keys::update(dokku_root, |keys| {
        if keys.entries().any(|e| e.name == name) {
            return Err(Error::fail(
                "Duplicate ssh key name\nsshcommand returned an error: 1",
            ));
        }
        if keys.holds_key(&key) {
            return Err(Error::fail("Duplicate ssh public key specified"));
        }
        // A platform without an admin gets one from its command line.
        let role = match role {
            Some(role) => role,
            None if !remote && !keys.has_admin() => {
                first_admin = true;
                Role::Admin
            }
            None => Role::User,
        };
        let fingerprint = keys.add(dokku_root, &name, &key, &allowed_keys)?;
        keys.set_role(&name, role)?;
        Ok(fingerprint)
    })?;
    if first_admin {
        ctx.out.stderr(format!(
            "-----> {name} has the admin role: it is the first key added on the command line while no key was an admin"
        ))?;
    }
    ctx.out.line(fingerprint)
}

/// `ssh-keys:set NAME role admin|user`.
fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: SetArgs = crate::args::parse("ssh-keys:set", &args)?;
    let name = args.name.ok_or_else(|| {
        Error::fail("A key name is required, ie: dokku ssh-keys:set <name> role admin")
    })?;
    match args.key.as_deref() {
        Some("role") => {}
        Some(other) => {
            return Err(Error::fail(format!(
                "Invalid property specified: {other} (valid: role)"
            )));
        }
        None => return Err(Error::fail("No property specified (valid: role)")),
    }
    let role = Role::parse(args.value.as_deref().unwrap_or_default())?;
    authorized_keys::update(ctx.store.dokku_root(), |keys| {
        if role == Role::User && keys.role(&name) == Role::Admin {
            let admins = keys
                .entries()
                .filter(|e| keys.role(&e.name) == Role::Admin)
                .count();
            if admins == 1 && ctx.caller()?.is_remote() {
                return Err(Error::fail(format!(
                    "{name} is the last admin key: over SSH it keeps the role, so that an admin can still log in"
                )));
            }
        }
        keys.set_role(&name, role)
    })?;
    ctx.out.info1(format!("Set the role of {name} to {role}"))
}

/// `SSHCOMMAND_ALLOWED_KEYS`, when set, replaces the default key options.
fn allowed_keys() -> Result<String> {
    match std::env::var(ALLOWED_KEYS_ENV) {
        Ok(options) if !options.is_empty() => {
            if valid_allowed_keys(&options) {
                Ok(options)
            } else {
                Err(Error::fail(format!(
                    "{ALLOWED_KEYS_ENV} must be a comma-separated list of flag options, e.g. {DEFAULT_ALLOWED_KEYS}"
                )))
            }
        }
        _ => Ok(DEFAULT_ALLOWED_KEYS.to_string()),
    }
}

/// The first line of stdin, as Dokku reads a piped key; a terminal is
/// refused rather than waited on.
fn first_line_of_stdin() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::fail("No key specified via file or pipe"));
    }
    crate::bounded::read_line(stdin.lock(), crate::bounded::KEY_LINE, "The key on stdin")
}

/// One key, as `ssh-keys:list --format json` prints it (sshcommand's keys).
#[derive(Serialize)]
struct ListedKey<'a> {
    fingerprint: &'a str,
    name: &'a str,
    #[serde(rename = "SSHCOMMAND_ALLOWED_KEYS")]
    allowed_keys: &'a str,
    #[serde(rename = "public-key")]
    public_key: &'a str,
    /// berth's: what the key may do.
    role: &'a str,
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ListArgs = crate::args::parse("ssh-keys:list", &args)?;
    let json = match args.format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            return Err(Error::fail(format!(
                "Invalid format specified: {other} (valid: json, text)"
            )));
        }
    };
    let keys = AuthorizedKeys::load(ctx.store.dokku_root())?;
    let listed: Vec<ListedKey> = keys
        .entries()
        .filter(|e| args.name.as_ref().is_none_or(|n| *n == e.name))
        .map(|e| ListedKey {
            fingerprint: &e.fingerprint,
            name: &e.name,
            allowed_keys: &e.allowed_keys,
            public_key: &e.public_key,
            role: keys.role(&e.name).as_str(),
        })
        .collect();
    if let (Some(name), true) = (&args.name, listed.is_empty()) {
        return Err(Error::fail(format!("No public key found with name {name}")));
    }
    if json {
        return ctx
            .out
            .line(serde_json::to_string(&listed).expect("strings serialise"));
    }
    if listed.is_empty() {
        return ctx.out.warn("No public keys found.");
    }
    for key in &listed {
        ctx.out.line(format!(
            "{} NAME=\"{}\" SSHCOMMAND_ALLOWED_KEYS=\"{}\" ROLE=\"{}\"",
            key.fingerprint, key.name, key.allowed_keys, key.role
        ))?;
    }
    Ok(())
}

/// What `ssh-keys:remove` removes.
enum Target {
    Name(String),
    Fingerprint(String),
}

impl Target {
    fn matches(&self, entry: &KeyEntry) -> bool {
        match self {
            Target::Name(name) => entry.name == *name,
            Target::Fingerprint(fingerprint) => entry.has_fingerprint(fingerprint),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Name(name) => format!("name {name}"),
            Target::Fingerprint(fingerprint) => format!("fingerprint {fingerprint}"),
        }
    }
}

fn remove(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: RemoveArgs = crate::args::parse("ssh-keys:remove", &args)?;
    let target = match (args.fingerprint, args.name.filter(|n| !n.is_empty())) {
        (Some(fingerprint), None) => Target::Fingerprint(fingerprint),
        (None, Some(name)) => Target::Name(name),
        (Some(_), Some(_)) => {
            return Err(Error::fail(
                "Specify either a name or --fingerprint, not both",
            ));
        }
        (None, None) => {
            return Err(Error::fail(
                "A name is required to remove a key, ie: dokku ssh-keys:remove <name>",
            ));
        }
    };
    authorized_keys::update(ctx.store.dokku_root(), |keys| {
        if keys.remove(|entry| target.matches(entry)) == 0 {
            return Err(Error::fail(format!(
                "No public key found with {}",
                target.describe()
            )));
        }
        Ok(())
    })
}
