//! `shell`: an interactive berth shell — Dokku's commands typed one per
//! line, without the `dokku` in front (`ssh -t dokku@host shell`).
//!
//! Each line is split with [`crate::words::split`] (quotes as a shell
//! would, no expansion, nothing run by a shell) and runs exactly as the
//! same command line would on its own: authorised for the same caller,
//! recorded in the audit log, its errors printed in Dokku's form. A
//! failing command does not end the shell; `exit`, `quit` or end of input
//! does.

use std::io::{IsTerminal, Write};

use crate::context::Context;
use crate::error::Result;
use crate::plugins::Command;

pub static COMMANDS: &[Command] = &[Command {
    name: "shell",
    usage: "",
    description: "Spawn dokku shell",
    run,
}];

/// The longest line the shell reads.
const LINE_LIMIT: u64 = 64 * 1024;

fn run(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<crate::args::NoArgs>("shell", &args)?;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    loop {
        if interactive {
            let mut out = std::io::stdout();
            let _ = out.write_all(b"dokku> ");
            let _ = out.flush();
        }
        let line = crate::bounded::read_line(&mut input, LINE_LIMIT, "the command line")?;
        if line.is_empty() {
            return Ok(());
        }
        let mut words = match crate::words::split(line.trim()) {
            Ok(words) => words,
            Err(e) => {
                ctx.out.warn(format!("Unable to read the command: {e}"))?;
                continue;
            }
        };
        if words.first().is_some_and(|w| w == "dokku" || w == "berth") {
            words.remove(0);
        }
        match words.first().map(String::as_str) {
            None => continue,
            Some("exit" | "quit") => return Ok(()),
            Some("shell") => ctx.out.warn("Already in the dokku shell")?,
            Some(_) => {
                crate::cli::run(&words);
            }
        }
    }
}
