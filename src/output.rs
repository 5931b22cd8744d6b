//! Dokku's output conventions: `-----> ` info lines, `=====> ` headers,
//! 7-space details on stdout, ` !     ` warnings on stderr.
//!
//! `--quiet` hides the `----->` and `=====>` lines and the `_quiet`
//! variants, as `DOKKU_QUIET_OUTPUT` does.

use std::io::{self, Write};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub quiet: bool,
}

impl Output {
    /// Dokku's destructive-action prompt: the user must type `name` to
    /// destroy `what` (`app demo`). Reads one bounded line of stdin; a
    /// closed or unreadable stdin, or another answer, aborts (exit 1).
    pub fn confirm(&self, what: &str, name: &str) -> Result<()> {
        self.warn("WARNING: Potentially Destructive Action")?;
        self.warn(format!("This command will destroy {what}."))?;
        self.warn(format!("To proceed, type \"{name}\""))?;
        self.raw(b"> ")?;
        let answer = crate::bounded::read_line(io::stdin().lock(), 4096, "the confirmation")
            .unwrap_or_default();
        if answer.trim_end_matches(['\n', '\r']) != name {
            self.stderr("Confirmation did not match test. Aborted.")?;
            return Err(Error::Silent(1));
        }
        Ok(())
    }

    /// A plain line on stdout.
    pub fn line(&self, text: impl AsRef<str>) -> Result<()> {
        write_line(&mut io::stdout().lock(), text.as_ref())
    }

    /// A plain line on stdout, hidden by `--quiet`.
    pub fn line_quiet(&self, text: impl AsRef<str>) -> Result<()> {
        if self.quiet {
            return Ok(());
        }
        self.line(text)
    }

    /// `-----> text`, hidden by `--quiet` (Dokku's `dokku_log_quiet`:
    /// quiet output is the data, without the chatter).
    pub fn info1(&self, text: impl AsRef<str>) -> Result<()> {
        self.line_quiet(format!("-----> {}", text.as_ref()))
    }

    /// `=====> text`, hidden by `--quiet`.
    pub fn info2(&self, text: impl AsRef<str>) -> Result<()> {
        self.line_quiet(format!("=====> {}", text.as_ref()))
    }

    /// Seven spaces, then the text.
    pub fn verbose(&self, text: impl AsRef<str>) -> Result<()> {
        self.line(format!("       {}", text.as_ref()))
    }

    pub fn verbose_quiet(&self, text: impl AsRef<str>) -> Result<()> {
        self.line_quiet(format!("       {}", text.as_ref()))
    }

    /// ` !     text` on stderr.
    pub fn warn(&self, text: impl AsRef<str>) -> Result<()> {
        write_line(&mut io::stderr().lock(), &warning(text.as_ref()))
    }

    /// A plain line on stderr.
    pub fn stderr(&self, text: impl AsRef<str>) -> Result<()> {
        write_line(&mut io::stderr().lock(), text.as_ref())
    }

    /// Raw bytes on stdout (values, tar streams).
    pub fn raw(&self, bytes: &[u8]) -> Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(Error::Output)
    }
}

/// The Dokku warning/failure form of a message: every line prefixed.
pub fn warning(text: &str) -> String {
    text.lines()
        .map(|line| format!(" !     {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_line(out: &mut impl Write, text: &str) -> Result<()> {
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// Lays out rows as `column -t` does: each column padded to its widest cell,
/// columns separated by two spaces, the last column unpadded.
pub fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pad_all_but_the_last_cell() {
        let rows = vec![
            vec!["    apps".to_string(), "Manage apps".to_string()],
            vec!["    config".to_string(), "Manage config".to_string()],
        ];
        assert_eq!(
            columns(&rows),
            vec![
                "    apps    Manage apps".to_string(),
                "    config  Manage config".to_string()
            ]
        );
    }

    #[test]
    fn warning_prefixes_every_line() {
        assert_eq!(warning("a\nb"), " !     a\n !     b");
    }
}
