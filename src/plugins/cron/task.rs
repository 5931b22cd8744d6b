//! A cron task as the release's `app.json` declares it (`cron: [{command,
//! schedule, concurrency_policy, maintenance}]`), checked once: a schedule
//! that does not parse, an unknown policy or a command with a bare shell
//! operator fails the deploy.
//!
//! Schedules are parsed by `croner` (MIT, maintained, small: chrono and
//! two derive crates), configured for Dokku's dialect: five fields, no
//! seconds and no year, and the `@yearly`/`@annually`/`@monthly`/
//! `@weekly`/`@daily`/`@midnight`/`@hourly` macros. `@reboot` and
//! `@every` have no meaning without a host crontab and are refused.

use std::str::FromStr;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde_json::Value;

use crate::app_name::AppName;
use crate::error::{Error, Result};

/// `concurrency_policy`: what a run does when the task still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Allow,
    Forbid,
    Replace,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Allow => "allow",
            Policy::Forbid => "forbid",
            Policy::Replace => "replace",
        }
    }
}

impl FromStr for Policy {
    type Err = ();
    fn from_str(text: &str) -> std::result::Result<Policy, ()> {
        match text {
            "allow" => Ok(Policy::Allow),
            "forbid" => Ok(Policy::Forbid),
            "replace" => Ok(Policy::Replace),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub command: String,
    pub schedule: String,
    pub cron: Cron,
    pub policy: Policy,
    /// `maintenance: true` in app.json.
    pub maintenance: bool,
}

/// Dokku's task id: `<app>===<command>===<schedule>` in lowercase base36
/// (the bytes read as one big-endian number).
pub fn task_id(app: &AppName, command: &str, schedule: &str) -> String {
    base36(format!("{app}==={command}==={schedule}").as_bytes())
}

fn base36(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut number: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut digits = Vec::new();
    while !number.is_empty() {
        let mut remainder = 0u32;
        let mut quotient = Vec::with_capacity(number.len());
        for byte in &number {
            let value = (remainder << 8) | u32::from(*byte);
            let digit = value / 36;
            remainder = value % 36;
            if !(quotient.is_empty() && digit == 0) {
                quotient.push(digit as u8);
            }
        }
        digits.push(DIGITS[remainder as usize]);
        number = quotient;
    }
    // Leading zero bytes are zero digits, as Go's base36 package writes them.
    digits.extend(bytes.iter().take_while(|b| **b == 0).map(|_| b'0'));
    digits.reverse();
    String::from_utf8(digits).expect("base36 digits are ASCII")
}

/// Parses a schedule in Dokku's dialect (see the module doc).
pub fn parse_schedule(schedule: &str) -> std::result::Result<Cron, String> {
    let trimmed = schedule.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower == "@reboot" || lower.starts_with("@every") {
        return Err(format!(
            "{trimmed} is not supported: use a five-field schedule or @hourly, @daily, @weekly, @monthly, @yearly"
        ));
    }
    let pattern = if lower == "@midnight" {
        "@daily"
    } else {
        trimmed
    };
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())
}

/// Shell operators the docs say a cron command may not hold bare: the
/// command is exec'd, so they would be arguments, not operators.
const SHELL_OPERATORS: &[&str] = &[
    ";", "&&", "||", "|", "&", ">", ">>", "<", "<<", "2>", "2>&1",
];

/// The tasks of `app.json`, each checked; the first bad one fails them all.
pub fn from_app_json(app: &AppName, json: &Value) -> Result<Vec<Task>> {
    let Some(entries) = json.get("cron") else {
        return Ok(Vec::new());
    };
    let Some(entries) = entries.as_array() else {
        return Err(Error::fail(
            "Invalid app.json: cron must be a list of tasks",
        ));
    };
    let mut tasks = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let n = index + 1;
        let text = |key: &str| -> Result<Option<String>> {
            match entry.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::fail(format!(
                    "Invalid app.json: cron task {n}: {key} must be a string"
                ))),
            }
        };
        let command = text("command")?
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                Error::fail(format!("Invalid app.json: cron task {n} has no command"))
            })?;
        let schedule = text("schedule")?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                Error::fail(format!("Invalid app.json: cron task {n} has no schedule"))
            })?;
        let cron = parse_schedule(&schedule).map_err(|e| {
            Error::fail(format!(
                "Invalid cron schedule for task {n} ({schedule}): {e}"
            ))
        })?;
        let policy = match text("concurrency_policy")? {
            None => Policy::Allow,
            Some(p) => p.parse().map_err(|()| {
                Error::fail(format!(
                    "Invalid concurrency_policy for cron task {n}: {p} (valid: allow, forbid, replace)"
                ))
            })?,
        };
        let maintenance = match entry.get("maintenance") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(Error::fail(format!(
                    "Invalid app.json: cron task {n}: maintenance must be true or false"
                )));
            }
        };
        let words = crate::words::split(&command).map_err(|e| {
            Error::fail(format!(
                "Invalid command for cron task {n} ({command}): {e}"
            ))
        })?;
        if let Some(operator) = words.iter().find(|w| SHELL_OPERATORS.contains(&w.as_str())) {
            return Err(Error::fail(format!(
                "Invalid command for cron task {n} ({command}): the shell operator {operator} is not interpreted; wrap the command, as in sh -c '...'"
            )));
        }
        tasks.push(Task {
            id: task_id(app, &command, &schedule),
            command,
            schedule,
            cron,
            policy,
            maintenance,
        });
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppName {
        AppName::lookup("demo").unwrap()
    }

    #[test]
    fn ids_are_base36_of_app_command_and_schedule() {
        assert_eq!(base36(b"a"), "2p");
        // The global task id in Dokku's cron documentation.
        assert_eq!(
            base36(b"@daily;;;/bin/true"),
            "5cruaotm4yzzpnjlsdunblj8qyjp"
        );
        assert_eq!(base36(&[0, 1]), "01");
        assert_eq!(base36(b""), "");
        let id = task_id(&app(), "true", "* * * * *");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_ne!(id, task_id(&app(), "true", "@daily"));
    }

    #[test]
    fn schedules_are_five_fields_or_macros() {
        for good in [
            "* * * * *",
            "*/5 1-3 * JAN mon",
            "0 0 1 1 *",
            "@daily",
            "@midnight",
            "@hourly",
            "@annually",
        ] {
            assert!(parse_schedule(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "* * * *",
            "0 * * * * *",
            "61 * * * *",
            "@reboot",
            "@every 5m",
            "@sometimes",
            "nonsense",
        ] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn app_json_tasks_are_checked() {
        let json = serde_json::json!({"cron": [
            {"command": "echo hi", "schedule": "@daily"},
            {"command": "sh -c 'a > b'", "schedule": "* * * * *",
             "concurrency_policy": "forbid", "maintenance": true}
        ]});
        let tasks = from_app_json(&app(), &json).unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].policy, Policy::Allow);
        assert!(tasks[1].maintenance && tasks[1].policy == Policy::Forbid);
        assert!(
            from_app_json(&app(), &serde_json::json!({}))
                .unwrap()
                .is_empty()
        );

        let refused = |json: Value| from_app_json(&app(), &json).unwrap_err().to_string();
        assert!(
            refused(serde_json::json!({"cron": [{"command": "x", "schedule": "* * *"}]}))
                .contains("Invalid cron schedule for task 1 (* * *)")
        );
        assert!(
            refused(serde_json::json!({"cron": [{"command": "a && b", "schedule": "@daily"}]}))
                .contains("shell operator &&")
        );
        assert!(refused(serde_json::json!({"cron": [{"command": "a", "schedule": "@daily", "concurrency_policy": "never"}]}))
            .contains("concurrency_policy"));
        assert!(
            refused(serde_json::json!({"cron": [{"schedule": "@daily"}]})).contains("no command")
        );
        assert!(refused(serde_json::json!({"cron": {}})).contains("list"));
    }
}
