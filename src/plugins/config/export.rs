//! The formats of `config:export` (and of the `config-export` trigger).

use crate::dotenv::{self, Env};
use crate::error::{Error, Result};
use crate::output::columns;

/// Renders `env` in one of Dokku's export formats, without the final newline.
pub fn render(env: &Env, format: &str) -> Result<String> {
    let quoted = |prefix: &str, sep: &str| {
        env.iter()
            .map(|(k, v)| format!("{prefix}{k}={}", single_quoted(v)))
            .collect::<Vec<_>>()
            .join(sep)
    };
    let keys = |prefix: &str| {
        env.keys()
            .map(|k| format!("{prefix}{k}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok(match format {
        "exports" => quoted("export ", "\n"),
        // The ENV file's own format, so an export imports back unchanged.
        "envfile" => dotenv::serialize(env).trim_end_matches('\n').to_string(),
        "docker-args" => quoted("--env=", " "),
        "docker-args-keys" => keys("--env="),
        "pack-keys" => keys("--env "),
        "shell" => env
            .iter()
            .map(|(k, v)| format!("{k}={} ", single_quoted(v)))
            .collect(),
        "json" => serde_json::to_string(env).expect("a map of strings serialises"),
        "json-list" if env.is_empty() => "null".to_string(),
        "json-list" => {
            let list: Vec<_> = env
                .iter()
                .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                .collect();
            serde_json::to_string(&list).expect("a list of objects serialises")
        }
        "pretty" => pretty(env, "").join("\n"),
        other => return Err(Error::fail(format!("Unknown export format: {other}"))),
    })
}

/// `'value'`, with `'` written as `'\''`: safe to paste into a POSIX shell.
pub fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// Aligned `KEY:  value` lines, each starting with `prefix`.
pub fn pretty(env: &Env, prefix: &str) -> Vec<String> {
    let rows: Vec<Vec<String>> = env
        .iter()
        .map(|(k, v)| vec![format!("{prefix}{k}:"), v.clone()])
        .collect();
    columns(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        [
            ("A".to_string(), "it's".to_string()),
            ("B".to_string(), "x".to_string()),
        ]
        .into()
    }

    #[test]
    fn formats() {
        let e = env();
        assert_eq!(
            render(&e, "exports").unwrap(),
            "export A='it'\\''s'\nexport B='x'"
        );
        assert_eq!(render(&e, "envfile").unwrap(), "A=\"it's\"\nB=\"x\"");
        assert_eq!(
            render(&e, "docker-args").unwrap(),
            "--env=A='it'\\''s' --env=B='x'"
        );
        assert_eq!(render(&e, "docker-args-keys").unwrap(), "--env=A --env=B");
        assert_eq!(render(&e, "pack-keys").unwrap(), "--env A --env B");
        assert_eq!(render(&e, "shell").unwrap(), "A='it'\\''s' B='x' ");
        assert_eq!(render(&e, "json").unwrap(), r#"{"A":"it's","B":"x"}"#);
        assert_eq!(
            render(&e, "json-list").unwrap(),
            r#"[{"name":"A","value":"it's"},{"name":"B","value":"x"}]"#
        );
        assert_eq!(render(&Env::new(), "json-list").unwrap(), "null");
        assert_eq!(render(&e, "pretty").unwrap(), "A:  it's\nB:  x");
        assert!(render(&e, "yaml").is_err());
    }
}
