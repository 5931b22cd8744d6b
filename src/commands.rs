//! Every command berth runs, by name: the plugins' (`apps:create`, and the
//! internal ones git runs) and the platform's own (`server`, and
//! `healthcheck`, the image's `HEALTHCHECK`, which live with the server so
//! that no plugin depends on it; `shell`, which runs command lines).

use crate::plugins::{self, Command};

/// The platform's commands help lists.
pub fn platform() -> impl Iterator<Item = &'static Command> {
    crate::server::COMMANDS.iter().chain(crate::shell::COMMANDS)
}

/// A command by its full name.
pub fn find(name: &str) -> Option<&'static Command> {
    plugins::find_command(name).or_else(|| {
        platform()
            .chain(crate::server::INTERNAL)
            .find(|c| c.name == name)
    })
}
