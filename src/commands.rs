//! Every command berth runs, by name: the plugins' (`apps:create`, and the
//! internal ones git runs) and the platform's own (`server`, and
//! `healthcheck`, the image's `HEALTHCHECK`), which live with the server so
//! that no plugin depends on it.

use crate::plugins::{self, Command};

/// A command by its full name.
pub fn find(name: &str) -> Option<&'static Command> {
    plugins::find_command(name).or_else(|| crate::server::COMMANDS.iter().find(|c| c.name == name))
}
