//! One SSH connection: public-key authentication against the key store,
//! session channels, and the answers to channel requests.
//!
//! Only user `dokku` with a key of `$DOKKU_ROOT/.ssh/authorized_keys` gets
//! in; the store is read on every attempt, so `ssh-keys:add` and
//! `ssh-keys:remove` apply to the next connection. Passwords,
//! keyboard-interactive and `none` are refused. Only session channels open;
//! forwarding, agents, X11, subsystems and client environment variables are
//! refused.
//!
//! Requests are answered here, in the order they arrive (the protocol
//! matches replies to requests by order); the channel's task
//! ([`crate::server::channel`]) acts on the same requests.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure, Pty};
use tokio::sync::watch;

use crate::authorized_keys::AuthorizedKeys;
use crate::server::Shared;
use crate::server::admission::Ticket;
use crate::server::channel::{self, ChannelContext};

/// The user every key logs in as, as with Dokku.
pub const SSH_USER: &str = "dokku";

/// Who is connected: the key's name and fingerprint from the store.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub fingerprint: String,
    pub pty_allowed: bool,
}

pub struct SshSession {
    shared: Arc<Shared>,
    peer: SocketAddr,
    local: SocketAddr,
    identity: Option<Identity>,
    /// Channels that already run their command.
    started: HashSet<ChannelId>,
    /// Session channels open now, and how many may be.
    open_channels: usize,
    max_sessions: usize,
    gone: watch::Receiver<()>,
    /// The connection's place among those waiting to log in.
    ticket: Arc<Ticket>,
    authenticated: Arc<AtomicBool>,
}

impl SshSession {
    pub fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        local: SocketAddr,
        gone: watch::Receiver<()>,
        ticket: Arc<Ticket>,
        max_sessions: usize,
    ) -> SshSession {
        SshSession {
            shared,
            peer,
            local,
            identity: None,
            started: HashSet::new(),
            open_channels: 0,
            max_sessions,
            gone,
            ticket,
            authenticated: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Becomes true once the connection logged in.
    pub fn authenticated(&self) -> Arc<AtomicBool> {
        self.authenticated.clone()
    }

    /// The identity `key` logs in as, if the store admits it.
    fn lookup(&self, user: &str, key: &PublicKey) -> Option<Identity> {
        if user != SSH_USER {
            return None;
        }
        let keys = match AuthorizedKeys::load(&self.shared.dokku_root) {
            Ok(keys) => keys,
            Err(e) => {
                eprintln!(
                    "{}",
                    crate::output::warning(&format!("ssh: key store unreadable: {e}"))
                );
                return None;
            }
        };
        keys.admitting(key).map(|entry| Identity {
            name: entry.name.clone(),
            fingerprint: entry.sha256(),
            pty_allowed: entry.allows_pty(),
        })
    }

    fn answer(session: &mut Session, channel: ChannelId, ok: bool) -> Result<(), russh::Error> {
        if ok {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }
}

impl russh::server::Handler for SshSession {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(match self.lookup(user, offer.public_key) {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.identity = self.lookup(user, key.public_key);
        Ok(match self.identity {
            Some(_) => {
                self.authenticated.store(true, Ordering::Release);
                self.ticket.authenticated();
                Auth::Accept
            }
            None => Auth::reject(),
        })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(identity) = self.identity.clone() else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        if self.open_channels >= self.max_sessions {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.open_channels += 1;
        reply.accept().await;
        let (peer, local) = (self.peer, self.local);
        let cx = ChannelContext {
            shared: self.shared.clone(),
            identity,
            ssh_client: format!("{} {} {}", peer.ip(), peer.port(), local.port()),
            ssh_connection: format!(
                "{} {} {} {}",
                peer.ip(),
                peer.port(),
                local.ip(),
                local.port()
            ),
            gone: self.gone.clone(),
        };
        tokio::spawn(channel::serve(channel, cx));
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.started.remove(&channel);
        self.open_channels = self.open_channels.saturating_sub(1);
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let allowed = self.identity.as_ref().is_some_and(|i| i.pty_allowed);
        Self::answer(
            session,
            channel,
            allowed && !self.started.contains(&channel),
        )
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let first = self.started.insert(channel);
        Self::answer(session, channel, first)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let first = self.started.insert(channel);
        Self::answer(session, channel, first)
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::answer(session, channel, true)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::answer(session, channel, false)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::answer(session, channel, false)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _protocol: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::answer(session, channel, false)
    }
}
