//! Every command berth runs, by name: the plugins' (`apps:create`, and the
//! internal ones git runs) and the platform's own (`server`, and
//! `healthcheck`, the image's `HEALTHCHECK`), which live with the server so
//! that no plugin depends on it.

use crate::plugins::{self, Command};

/// The platform's commands help lists.
pub static PLATFORM: &[Command] = crate::server::COMMANDS;

/// A command by its full name.
pub fn find(name: &str) -> Option<&'static Command> {
    plugins::find_command(name).or_else(|| {
        PLATFORM
            .iter()
            .chain(crate::server::INTERNAL)
            .find(|c| c.name == name)
    })
}
