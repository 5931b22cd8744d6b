//! `storage:annotations:set/report` and `storage:labels:set/report`: an
//! entry's annotations and labels, one key at a time (Dokku 0.38.27). On
//! docker-local they are metadata only, kept on the entry for tooling and
//! for a later move to k3s.

use std::collections::BTreeMap;

use super::entry::{self, Entry};
use super::{Foreign, check_entry_access, lock};
use crate::context::Context;
use crate::error::{Error, Result};

/// Which of the two maps a command works on.
#[derive(Clone, Copy)]
struct Kind {
    /// `annotations` or `labels`: the command's word and the report's.
    plural: &'static str,
    /// `Annotation` or `Label`: a report row's first word.
    row: &'static str,
}

const ANNOTATIONS: Kind = Kind {
    plural: "annotations",
    row: "Annotation",
};
const LABELS: Kind = Kind {
    plural: "labels",
    row: "Label",
};

impl Kind {
    fn map(self, entry: &mut Entry) -> &mut BTreeMap<String, String> {
        if self.plural == "labels" {
            &mut entry.labels
        } else {
            &mut entry.annotations
        }
    }
}

/// A Kubernetes-style key: `[A-Za-z0-9._/-]`, stored verbatim.
fn check_key(key: &str) -> Result<()> {
    let valid = !key.is_empty()
        && key.len() <= 317
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    if valid {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "Invalid key {key:?}: use letters, digits, '.', '_', '-' and '/'"
        )))
    }
}

fn set(ctx: &Context, kind: Kind, args: Vec<String>) -> Result<()> {
    let mut words = args.into_iter();
    let name = entry::name_arg(words.next().as_deref())?;
    let key = words
        .next()
        .ok_or_else(|| Error::fail("No key specified"))?;
    check_key(&key)?;
    let value = words.collect::<Vec<_>>().join(" ");
    if value.chars().any(char::is_control) {
        return Err(Error::fail("A value may not contain control characters"));
    }
    let _lock = lock(ctx)?;
    let mut found = entry::require(ctx, &name)?;
    check_entry_access(ctx, &format!("storage:{}:set", kind.plural), &name)?;
    if value.is_empty() {
        kind.map(&mut found).remove(&key);
        ctx.out.info2(format!("Unsetting {key}"))?;
    } else {
        kind.map(&mut found).insert(key.clone(), value.clone());
        ctx.out.info2(format!("Setting {key} to {value}"))?;
    }
    entry::save(ctx, &found)
}

fn report(ctx: &Context, kind: Kind, args: Vec<String>) -> Result<()> {
    let command = format!("storage:{}:report", kind.plural);
    let mut name = None;
    let mut flag = None;
    let mut format = None;
    let mut words = args.into_iter();
    while let Some(word) = words.next() {
        if word == "--format" {
            format = Some(words.next().unwrap_or_default());
        } else if let Some(value) = word.strip_prefix("--format=") {
            format = Some(value.to_string());
        } else if word.starts_with("--") {
            if flag.is_some() {
                return Err(Error::fail(format!(
                    "{command} command allows only a single flag"
                )));
            }
            flag = Some(word);
        } else if name.is_none() {
            name = Some(word);
        } else {
            return Err(Error::fail(format!("Unexpected argument: {word}")));
        }
    }
    let json = match format.as_deref() {
        None | Some("stdout") => false,
        Some("json") => true,
        Some(other) => {
            return Err(Error::fail(format!(
                "Invalid --format value specified: {other} (valid: json, stdout)"
            )));
        }
    };
    if flag.is_some() && json {
        return Err(Error::fail(
            "--format flag cannot be specified when specifying an info flag",
        ));
    }
    let foreign = Foreign::load(ctx)?;
    let entries = match &name {
        Some(name) => {
            entry::check_name(name)?;
            let found = entry::require(ctx, name)?;
            if !foreign.may_use(&found) {
                return Err(entry::missing(name));
            }
            vec![found]
        }
        None => entry::all(ctx)?
            .into_iter()
            .filter(|e| foreign.may_use(e))
            .collect(),
    };
    if let Some(flag) = flag {
        let prefix = format!("--storage-{}.", kind.plural);
        if name.is_none() {
            return Err(Error::fail(format!("{command} {flag} needs an entry name")));
        }
        let mut found = entries.into_iter().next().expect("the named entry");
        let map = kind.map(&mut found);
        let Some(value) = flag.strip_prefix(&prefix).and_then(|key| map.get(key)) else {
            let valid: Vec<String> = map.keys().map(|k| format!("{prefix}{k}")).collect();
            return Err(Error::fail(format!(
                "Invalid flag passed, valid flags: {}",
                valid.join(", ")
            )));
        };
        return ctx.out.line(value);
    }
    for mut found in entries {
        let title = found.name.clone();
        let map = kind.map(&mut found);
        if json {
            ctx.out
                .line(serde_json::to_string(&map).expect("a map of strings serialises"))?;
            continue;
        }
        ctx.out
            .info2(format!("{title} {} information", kind.plural))?;
        let labels: Vec<String> = map.keys().map(|k| format!("{} {k}:", kind.row)).collect();
        let width = labels.iter().map(|l| l.len() + 1).max().unwrap_or(0);
        for (label, value) in labels.iter().zip(map.values()) {
            ctx.out.verbose(format!("{label:<width$}{value}"))?;
        }
    }
    Ok(())
}

pub fn annotations_set(ctx: &Context, args: Vec<String>) -> Result<()> {
    set(ctx, ANNOTATIONS, args)
}

pub fn annotations_report(ctx: &Context, args: Vec<String>) -> Result<()> {
    report(ctx, ANNOTATIONS, args)
}

pub fn labels_set(ctx: &Context, args: Vec<String>) -> Result<()> {
    set(ctx, LABELS, args)
}

pub fn labels_report(ctx: &Context, args: Vec<String>) -> Result<()> {
    report(ctx, LABELS, args)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_may_hold_slashes_never_spaces() {
        assert!(super::check_key("backup.velero.io/backup-volumes").is_ok());
        for bad in ["", "a b", "a=b", "a\nb"] {
            assert!(super::check_key(bad).is_err(), "{bad}");
        }
    }
}
