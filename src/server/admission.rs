//! Who may wait to log in. Connections that have not authenticated yet
//! are capped, globally and per source address, and each has a login
//! grace time; an authenticated one has a cap on its sessions.
//!
//! A cap is never enforced by refusing the newcomer (OpenSSH's
//! `MaxStartups` does, so 100 idle connections lock everyone out): the
//! oldest waiting connection of the source over its cap goes instead — or,
//! at the global cap, the oldest of the source holding the most. A real
//! client authenticates in milliseconds, so it outlives the evictions a
//! flood of idle or failing connections causes, and a flood from one
//! address never evicts another address's connection while that address
//! holds fewer.
//!
//! Settings (environment of `berth server`): `BERTH_SSH_LOGIN_GRACE`
//! (seconds, default 60), `BERTH_SSH_MAX_STARTUPS` (100),
//! `BERTH_SSH_MAX_STARTUPS_PER_SOURCE` (20), `BERTH_SSH_MAX_SESSIONS` (10,
//! as OpenSSH's `MaxSessions`).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a connection may take to authenticate.
    pub login_grace: Duration,
    /// Connections waiting to authenticate, in all.
    pub max_startups: usize,
    /// Connections waiting to authenticate, per source address.
    pub max_startups_per_source: usize,
    /// Session channels open at once on one connection.
    pub max_sessions: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            login_grace: Duration::from_secs(60),
            max_startups: 100,
            max_startups_per_source: 20,
            max_sessions: 10,
        }
    }
}

impl Limits {
    /// The defaults, with the `BERTH_SSH_*` settings applied. A setting
    /// that is not a positive whole number is refused, naming it.
    pub fn from_env() -> Result<Limits> {
        let read = |name: &str, default: u64| -> Result<u64> {
            match std::env::var(name) {
                Ok(value) if !value.is_empty() => match value.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(Error::fail(format!(
                        "{name}={value} is not a positive whole number"
                    ))),
                },
                _ => Ok(default),
            }
        };
        let defaults = Limits::default();
        Ok(Limits {
            login_grace: Duration::from_secs(read(
                "BERTH_SSH_LOGIN_GRACE",
                defaults.login_grace.as_secs(),
            )?),
            max_startups: read("BERTH_SSH_MAX_STARTUPS", defaults.max_startups as u64)? as usize,
            max_startups_per_source: read(
                "BERTH_SSH_MAX_STARTUPS_PER_SOURCE",
                defaults.max_startups_per_source as u64,
            )? as usize,
            max_sessions: read("BERTH_SSH_MAX_SESSIONS", defaults.max_sessions as u64)? as usize,
        })
    }
}

/// The connections waiting to authenticate, oldest first.
pub struct Admission {
    limits: Limits,
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    next_id: u64,
    entries: Vec<Entry>,
}

struct Entry {
    id: u64,
    source: IpAddr,
    evicted: Arc<Notify>,
}

/// A connection's place in the queue; leaves it when authenticated or
/// dropped. `evicted` fires when a newer connection took its place.
pub struct Ticket {
    admission: Arc<Admission>,
    id: u64,
    pub evicted: Arc<Notify>,
}

impl Admission {
    pub fn new(limits: Limits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            waiting: Mutex::new(Waiting::default()),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Queues a new connection from `source`, evicting whom the caps say.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Ticket {
        let mut waiting = self.lock();
        let sources: Vec<IpAddr> = waiting.entries.iter().map(|e| e.source).collect();
        if let Some(index) = victim(&sources, source, &self.limits) {
            let gone = waiting.entries.remove(index);
            gone.evicted.notify_one();
        }
        waiting.next_id += 1;
        let id = waiting.next_id;
        let evicted = Arc::new(Notify::new());
        waiting.entries.push(Entry {
            id,
            source,
            evicted: evicted.clone(),
        });
        Ticket {
            admission: self.clone(),
            id,
            evicted,
        }
    }

    /// How many connections wait to authenticate now.
    pub fn waiting(&self) -> usize {
        self.lock().entries.len()
    }

    fn leave(&self, id: u64) {
        self.lock().entries.retain(|e| e.id != id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Ticket {
    /// The connection logged in: it no longer counts against the caps.
    pub fn authenticated(&self) {
        self.admission.leave(self.id);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.leave(self.id);
    }
}

/// Which waiting connection (an index into `sources`, oldest first) must
/// go for one more from `newcomer`: the newcomer's source's oldest when it
/// is at its cap, else at the global cap the oldest of the source holding
/// the most (the oldest such source on a tie).
fn victim(sources: &[IpAddr], newcomer: IpAddr, limits: &Limits) -> Option<usize> {
    let count = |source: IpAddr| sources.iter().filter(|s| **s == source).count();
    if count(newcomer) >= limits.max_startups_per_source {
        return sources.iter().position(|s| *s == newcomer);
    }
    if sources.len() >= limits.max_startups {
        let busiest = sources.iter().copied().max_by_key(|s| {
            (
                count(*s),
                std::cmp::Reverse(sources.iter().position(|x| x == s)),
            )
        })?;
        return sources.iter().position(|s| *s == busiest);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn limits(global: usize, per_source: usize) -> Limits {
        Limits {
            max_startups: global,
            max_startups_per_source: per_source,
            ..Limits::default()
        }
    }

    #[test]
    fn under_the_caps_nobody_goes() {
        assert_eq!(victim(&[ip(1), ip(2)], ip(1), &limits(10, 3)), None);
    }

    #[test]
    fn a_source_at_its_cap_loses_its_oldest() {
        let queue = [ip(2), ip(1), ip(1), ip(1)];
        assert_eq!(victim(&queue, ip(1), &limits(10, 3)), Some(1));
    }

    #[test]
    fn at_the_global_cap_the_busiest_source_pays() {
        let queue = [ip(3), ip(1), ip(2), ip(1), ip(1)];
        // 127.0.0.4 is new: 127.0.0.1 holds the most, its oldest goes.
        assert_eq!(victim(&queue, ip(4), &limits(5, 5)), Some(1));
        // A tie: the source whose connection is oldest.
        let queue = [ip(2), ip(1), ip(1), ip(2)];
        assert_eq!(victim(&queue, ip(3), &limits(4, 5)), Some(0));
    }

    #[test]
    fn tickets_leave_the_queue_and_evictions_are_signalled() {
        let admission = Admission::new(limits(10, 2));
        let first = admission.admit(ip(1));
        let second = admission.admit(ip(1));
        second.authenticated();
        assert_eq!(admission.waiting(), 1);
        let _third = admission.admit(ip(1));
        let _fourth = admission.admit(ip(1));
        // `first` was the oldest of 127.0.0.1 at its cap of 2.
        assert_eq!(admission.waiting(), 2);
        let evicted = first.evicted.clone();
        assert!(
            futures_util::FutureExt::now_or_never(evicted.notified()).is_some(),
            "the evicted ticket was told"
        );
        drop(first);
        assert_eq!(admission.waiting(), 2);
    }

    #[test]
    fn settings_must_be_positive_numbers() {
        assert_eq!(Limits::from_env().unwrap(), Limits::default());
    }
}
