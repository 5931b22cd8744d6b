//! Build records, as Dokku 0.38 keeps them: every build or deploy writes
//! `data/builds/<app>/<id>.json` (what ran, from which command, in which
//! process, since when, how it ended) and `<id>.log` (everything the deploy
//! printed, as it printed it).
//!
//! [`start`] opens the record of a process's outermost deploy (a push opens
//! it in the builder; the scheduler's deploy inside the same process finds
//! it open and adds nothing). The [`Recording`] it returns tees fds 1 and 2
//! into the log ([`capture`]) until [`Recording::finish`] or its drop
//! finalizes the record and applies the app's retention. `builds:cancel`
//! sends SIGQUIT to the deploying process, which stops at its next
//! [`checkpoint`].
//!
//! Guarantees: a record reads `running` only while the process that wrote
//! it runs ([`Record::shown`] says `abandoned` otherwise, after asking
//! `/proc`, so a reused pid is not taken for the deploy); a pid is
//! signalled only once `/proc` confirms it ([`Record::alive`]); retention
//! never removes a live record; every write goes through `store::atomic`.

mod capture;
mod recording;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::app_name::AppName;
use crate::error::{IoContext, Result};
use crate::store::atomic::{FILE_MODE, remove_file, write_atomic};
use crate::store::lock::LockGuard;
use crate::store::{Scope, Store};

pub use recording::{
    Current, Recording, canceled, checkpoint, current, pause, set_source, source_of, start,
};

/// The plugin whose folders hold the records (`data/builds/`) and the
/// retention property (`config/builds/`).
pub const PLUGIN: &str = "builds";

/// Records kept per app when neither the app nor the global
/// `retention` says otherwise.
pub const DEFAULT_RETENTION: usize = 20;

/// `build` for a path that makes a new image (a push, `git:*`,
/// `ps:rebuild`); `deploy` for one that runs an existing image again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Build,
    Deploy,
}

impl Kind {
    pub const NAMES: &'static [&'static str] = &["build", "deploy"];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Build => "build",
            Kind::Deploy => "deploy",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "build" => Some(Kind::Build),
            "deploy" => Some(Kind::Deploy),
            _ => None,
        }
    }
}

/// What a record says on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    Canceled,
}

/// What a record is shown as: its status, or `abandoned` for a `running`
/// record whose process is gone (never written to disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Running,
    Succeeded,
    Failed,
    Canceled,
    Abandoned,
}

impl Shown {
    pub const NAMES: &'static [&'static str] =
        &["running", "succeeded", "failed", "canceled", "abandoned"];

    pub fn as_str(self) -> &'static str {
        match self {
            Shown::Running => "running",
            Shown::Succeeded => "succeeded",
            Shown::Failed => "failed",
            Shown::Canceled => "canceled",
            Shown::Abandoned => "abandoned",
        }
    }
}

/// One build record, in Dokku's schema, plus what tells the process that
/// wrote it from a later one with the same pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub app: String,
    pub kind: Kind,
    pub pid: u32,
    pub started_at: String,
    #[serde(default, deserialize_with = "empty_is_none")]
    pub finished_at: Option<String>,
    pub status: Status,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// berth: the process's start time (`/proc/<pid>/stat`, clock ticks
    /// after boot), so a pid reused by another process is not taken for
    /// the deploy's. Absent in Dokku's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start_ticks: Option<u64>,
    /// berth: the boot the process ran in (`/proc/sys/kernel/random/boot_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

/// Dokku may write `""` for a time not reached yet.
fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(value.filter(|v| !v.is_empty()))
}

impl Record {
    pub fn is_final(&self) -> bool {
        self.status != Status::Running
    }

    /// Whether the process that wrote the record still runs, as `/proc`
    /// says now.
    pub fn alive(&self) -> bool {
        same_process(self, process_start(self.pid), boot_id().as_deref())
    }

    /// The status to show: `abandoned` for a running record whose process
    /// is gone.
    pub fn shown(&self) -> Shown {
        self.shown_with(self.status != Status::Running || self.alive())
    }

    /// [`Record::shown`], with `alive` said by the caller.
    pub fn shown_with(&self, alive: bool) -> Shown {
        match self.status {
            Status::Running if alive => Shown::Running,
            Status::Running => Shown::Abandoned,
            Status::Succeeded => Shown::Succeeded,
            Status::Failed => Shown::Failed,
            Status::Canceled => Shown::Canceled,
        }
    }

    /// How long it ran (or runs so far).
    pub fn duration(&self) -> Option<Duration> {
        let started = parse_time(&self.started_at)?;
        let ended = match &self.finished_at {
            Some(finished) => parse_time(finished)?,
            None if self.status == Status::Running => unix_now(),
            None => return None,
        };
        Some(Duration::from_secs(ended.saturating_sub(started)))
    }

    /// Dokku's schema (with the shown status), for `--format json`.
    pub fn to_json(&self, shown: Shown) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let mut object = serde_json::Map::new();
        object.insert("id".into(), Value::from(self.id.clone()));
        object.insert("app".into(), Value::from(self.app.clone()));
        object.insert("kind".into(), Value::from(self.kind.as_str()));
        object.insert("pid".into(), Value::from(self.pid));
        object.insert("started_at".into(), Value::from(self.started_at.clone()));
        object.insert("finished_at".into(), Value::from(self.finished_at.clone()));
        object.insert("status".into(), Value::from(shown.as_str()));
        object.insert("source".into(), Value::from(self.source.clone()));
        object.insert("exit_code".into(), Value::from(self.exit_code));
        object
    }
}

/// Whether the record's process is the one `/proc` shows under its pid:
/// `start_now` is that pid's start time now (`None`: no such process),
/// `boot_now` this boot's id. A record without a start time (Dokku's)
/// counts its pid alone.
fn same_process(record: &Record, start_now: Option<u64>, boot_now: Option<&str>) -> bool {
    let Some(start_now) = start_now else {
        return false;
    };
    if let (Some(then), Some(now)) = (record.boot_id.as_deref(), boot_now)
        && then != now
    {
        return false;
    }
    record
        .pid_start_ticks
        .is_none_or(|ticks| ticks == start_now)
}

/// The start time of a running process `pid` (clock ticks after boot,
/// field 22 of `/proc/<pid>/stat`); `None` when it is gone or a zombie.
pub fn process_start(pid: u32) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The start time in a `/proc/<pid>/stat` line, unless the process has
/// exited (state `Z`, `X`). The command name may hold blanks and
/// parentheses: fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    if matches!(fields.first(), Some(&("Z" | "X" | "x"))) {
        return None;
    }
    // Field 3 (state) is fields[0]; field 22 (starttime) is fields[19].
    fields.get(19)?.parse().ok()
}

/// This boot's id.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

// ----- ids and times -----

/// Characters of an id's time part (milliseconds, base 36: enough until
/// the year 5000) and of its random part.
const ID_TIME_CHARS: usize = 9;
const ID_RANDOM_CHARS: usize = 5;

/// A new id: time first, then randomness, in base 36 (14 characters), so
/// ids sort as their builds started; within a process each is greater
/// than the one before.
pub fn new_id() -> String {
    static LAST: std::sync::Mutex<(u64, u64)> = std::sync::Mutex::new((0, 0));
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let (millis, random) = next_id_parts(*last, millis, random_u64());
    *last = (millis, random);
    id_of(millis, random)
}

/// The largest random part, plus one.
const RANDOM_SPAN: u64 = 36u64.pow(ID_RANDOM_CHARS as u32);

/// The parts of the next id after `last`: the clock's, unless the clock
/// has not moved past `last` (then `last`'s time, its random part plus one).
fn next_id_parts(last: (u64, u64), millis: u64, random: u64) -> (u64, u64) {
    let random = random % RANDOM_SPAN;
    if millis > last.0 {
        return (millis, random);
    }
    if last.1 + 1 < RANDOM_SPAN {
        (last.0, last.1 + 1)
    } else {
        (last.0 + 1, 0)
    }
}

fn id_of(millis: u64, random: u64) -> String {
    format!(
        "{}{}",
        base36(millis, ID_TIME_CHARS),
        base36(random % RANDOM_SPAN, ID_RANDOM_CHARS)
    )
}

/// `n` in base 36, lower case, left-padded with zeros to `width`.
fn base36(mut n: u64, width: usize) -> String {
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(char::from_digit((n % 36) as u32, 36).expect("a base-36 digit"));
        n /= 36;
    }
    while digits.len() < width {
        digits.push('0');
    }
    digits.iter().rev().collect()
}

fn random_u64() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // Only the order within a millisecond depends on it.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        return u64::from(nanos) ^ u64::from(std::process::id()).rotate_left(32);
    }
    u64::from_le_bytes(bytes)
}

/// Whether `id` can name a record: base-36 characters only (it is joined
/// onto a path).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// Now, as `2026-04-30T13:50:00Z`.
pub fn now_rfc3339() -> String {
    format_time(unix_now())
}

fn format_time(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Seconds since 1970 of an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<u64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `1m14s`, as Dokku (Go) shows a duration.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

// ----- the records on disk -----

/// `data/builds/<app>/`.
pub fn records_dir(store: &Store, app: &AppName) -> PathBuf {
    store.data_dir(PLUGIN, &Scope::App(app.clone()))
}

/// `data/builds/<app>/<id>.log`.
pub fn log_path(store: &Store, app: &AppName, id: &str) -> PathBuf {
    records_dir(store, app).join(format!("{id}.log"))
}

fn record_path(store: &Store, app: &AppName, id: &str) -> PathBuf {
    records_dir(store, app).join(format!("{id}.json"))
}

/// The record `id` of `app`, if there is one.
pub fn read(store: &Store, app: &AppName, id: &str) -> Result<Option<Record>> {
    if !is_valid_id(id) {
        return Ok(None);
    }
    read_file(&record_path(store, app, id), app)
}

fn read_file(path: &Path, app: &AppName) -> Result<Option<Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at("Unable to read", path),
    };
    // A record the app was renamed with still belongs to its folder.
    Ok(serde_json::from_str::<Record>(&text).ok().map(|mut r| {
        r.app = app.to_string();
        r
    }))
}

/// The app's records, oldest first. Files that are not records are
/// skipped.
pub fn list(store: &Store, app: &AppName) -> Result<Vec<Record>> {
    let dir = records_dir(store, app);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to list", &dir),
    };
    let mut records = Vec::new();
    for entry in entries {
        let entry = entry.at("Unable to list", &dir)?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if !is_valid_id(id) {
            continue;
        }
        if let Some(record) = read_file(&entry.path(), app)?
            && record.id == id
        {
            records.push(record);
        }
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(records)
}

/// The newest record of `app`.
pub fn latest(store: &Store, app: &AppName) -> Result<Option<Record>> {
    Ok(list(store, app)?.pop())
}

/// Writes `record` in place of what its file held.
pub fn write(store: &Store, app: &AppName, record: &Record) -> Result<()> {
    let mut text = serde_json::to_string(record).expect("a record serialises");
    text.push('\n');
    write_atomic(
        &record_path(store, app, &record.id),
        text.as_bytes(),
        FILE_MODE,
    )
}

/// Finalizes a record whose process is gone as `failed`, as Dokku does
/// (its exit code is unknown).
pub fn mark_failed(store: &Store, app: &AppName, record: &mut Record) -> Result<()> {
    record.status = Status::Failed;
    record.finished_at = Some(now_rfc3339());
    record.exit_code = None;
    write(store, app, record)
}

/// The retention that applies to `app`: its own, else the global one,
/// else [`DEFAULT_RETENTION`].
pub fn retention(store: &Store, app: &AppName) -> Result<usize> {
    Ok(store
        .app_property(PLUGIN, app, "retention")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RETENTION))
}

/// What [`prune`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Abandoned records finalized as `failed`.
    pub reaped: usize,
    /// Records removed, with their logs.
    pub removed: usize,
}

/// What runs at the end of every deploy and in `builds:prune`: abandoned
/// records are finalized as `failed`, then all but the newest retained
/// finalized records go, with their logs. A live record is never touched.
pub fn prune(store: &Store, app: &AppName) -> Result<Pruned> {
    let keep = retention(store, app)?;
    let _lock = LockGuard::acquire(&records_dir(store, app).join(".lock"))?;
    let mut pruned = Pruned::default();
    let mut records = list(store, app)?;
    for record in records.iter_mut() {
        if record.shown() == Shown::Abandoned {
            mark_failed(store, app, record)?;
            pruned.reaped += 1;
        }
    }
    let entries: Vec<(&str, bool)> = records
        .iter()
        .map(|r| (r.id.as_str(), r.status == Status::Running))
        .collect();
    for id in beyond_retention(&entries, keep) {
        remove_file(&record_path(store, app, id))?;
        remove_file(&log_path(store, app, id))?;
        pruned.removed += 1;
    }
    Ok(pruned)
}

/// The ids retention removes from `records` (`(id, live)`, any order):
/// every finalized one but the newest `keep`; live ones never, and they do
/// not count against `keep`.
fn beyond_retention<'a>(records: &[(&'a str, bool)], keep: usize) -> Vec<&'a str> {
    let mut finalized: Vec<&str> = records
        .iter()
        .filter(|(_, live)| !live)
        .map(|(id, _)| *id)
        .collect();
    finalized.sort_unstable_by(|a, b| b.cmp(a));
    finalized.into_iter().skip(keep).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status, ticks: Option<u64>, boot: Option<&str>) -> Record {
        Record {
            id: "0mh3k2x9a00001".into(),
            app: "demo".into(),
            kind: Kind::Build,
            pid: 4242,
            started_at: "2026-04-30T13:50:00Z".into(),
            finished_at: None,
            status,
            source: "git-hook".into(),
            exit_code: None,
            pid_start_ticks: ticks,
            boot_id: boot.map(str::to_string),
        }
    }

    #[test]
    fn ids_sort_as_their_builds_started() {
        let early = id_of(1_777_000_000_000, 35u64.pow(3));
        let later = id_of(1_777_000_000_001, 0);
        assert_eq!(early.len(), 14);
        assert_eq!(later.len(), 14);
        assert!(early < later, "{early} < {later}");
        assert!(is_valid_id(&early));
        // Years on, the width stays and the order holds.
        assert!(id_of(4_102_444_800_000, 0) > later);
        assert_eq!(id_of(4_102_444_800_000, 0).len(), 14);
        // The same millisecond, or a clock that went back: still greater.
        let last = (1_777_000_000_001, 7);
        assert_eq!(next_id_parts(last, 1_777_000_000_001, 3), (last.0, 8));
        assert_eq!(next_id_parts(last, 1_700_000_000_000, 3), (last.0, 8));
        assert_eq!(
            next_id_parts((5, RANDOM_SPAN - 1), 5, 0),
            (6, 0),
            "a full millisecond moves on"
        );
        assert_eq!(next_id_parts(last, last.0 + 1, 3), (last.0 + 1, 3));
        let (a, b) = (new_id(), new_id());
        assert!(a < b, "{a} < {b}");
        assert!(!is_valid_id("../x") && !is_valid_id("") && !is_valid_id("ABC"));
    }

    #[test]
    fn a_running_record_of_a_gone_or_other_process_is_abandoned() {
        let running = record(Status::Running, Some(100), Some("boot-a"));
        assert!(same_process(&running, Some(100), Some("boot-a")));
        // The pid is gone, or belongs to a process started since.
        assert!(!same_process(&running, None, Some("boot-a")));
        assert!(!same_process(&running, Some(250), Some("boot-a")));
        // The same pid and start time, another boot.
        assert!(!same_process(&running, Some(100), Some("boot-b")));
        // Dokku's records carry the pid only.
        assert!(same_process(
            &record(Status::Running, None, None),
            Some(7),
            None
        ));

        assert_eq!(running.shown_with(true), Shown::Running);
        assert_eq!(running.shown_with(false), Shown::Abandoned);
        let done = record(Status::Succeeded, Some(100), None);
        assert_eq!(done.shown_with(false), Shown::Succeeded);
        assert_eq!(
            record(Status::Canceled, None, None).shown_with(false),
            Shown::Canceled
        );
        // This very process is alive.
        let mut own = record(Status::Running, None, boot_id().as_deref());
        own.pid = std::process::id();
        own.pid_start_ticks = process_start(own.pid);
        assert!(own.pid_start_ticks.is_some());
        assert_eq!(own.shown(), Shown::Running);
    }

    #[test]
    fn stat_lines_give_the_start_time_unless_the_process_exited() {
        let line = |state: &str| {
            format!(
                "4242 (berth (x) y) {state} 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21"
            )
        };
        assert_eq!(parse_stat(&line("S")), Some(987654));
        assert_eq!(parse_stat(&line("R")), Some(987654));
        assert_eq!(parse_stat(&line("Z")), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn retention_keeps_the_newest_finalized_and_every_live_record() {
        let records = [
            ("0a", false),
            ("0d", true),
            ("0b", false),
            ("0e", false),
            ("0c", false),
            ("00", true),
        ];
        let mut removed = beyond_retention(&records, 2);
        removed.sort_unstable();
        assert_eq!(removed, ["0a", "0b"]);
        assert!(beyond_retention(&records, 20).is_empty());
        let mut all = beyond_retention(&records, 0);
        all.sort_unstable();
        assert_eq!(all, ["0a", "0b", "0c", "0e"], "live ones stay");
    }

    #[test]
    fn records_read_as_dokku_writes_them() {
        let text = r#"{"id":"01j8c4xv7bk5w3","app":"myapp","kind":"build","pid":12345,
            "started_at":"2026-04-30T13:50:00Z","finished_at":"2026-04-30T13:51:14Z",
            "status":"succeeded","source":"git-hook","exit_code":0}"#;
        let parsed: Record = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.status, Status::Succeeded);
        assert_eq!(parsed.duration(), Some(Duration::from_secs(74)));
        assert_eq!(format_duration(parsed.duration().unwrap()), "1m14s");
        let running: Record = serde_json::from_str(
            r#"{"id":"x1","app":"a","kind":"deploy","pid":1,"started_at":"2026-04-30T13:50:00Z",
            "finished_at":"","status":"running","source":"ps:restart","exit_code":null}"#,
        )
        .unwrap();
        assert_eq!(running.finished_at, None);
        let json = running.to_json(Shown::Abandoned);
        assert_eq!(json["status"], "abandoned");
        assert_eq!(json["finished_at"], serde_json::Value::Null);
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h2m5s");
        assert_eq!(format_duration(Duration::from_secs(9)), "9s");
        assert_eq!(parse_time(&format_time(1_777_000_000)), Some(1_777_000_000));
        assert!(format_time(1_777_000_000).ends_with('Z'));
    }
}
