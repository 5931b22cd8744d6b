//! The `ENV` file codec: reads what godotenv (Dokku's library) writes, and
//! writes what godotenv reads.
//!
//! Guarantee: for every key that passes [`is_valid_key`] and every value
//! without a NUL byte, `parse(&serialize(env)) == env`. Dokku's own writer
//! breaks that in two places we do not copy: it rewrites `007` as `7`, and
//! its reader mis-parses a quoted value that ends in a backslash.

use std::collections::BTreeMap;

/// An environment: keys sorted, as Dokku lists and writes them.
pub type Env = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unexpected character {ch:?} in variable name on line {line}")]
    BadKey { ch: char, line: usize },
    #[error("missing '=' after {key} on line {line}")]
    MissingEquals { key: String, line: usize },
    #[error("unterminated quoted value for {key} on line {line}")]
    Unterminated { key: String, line: usize },
}

/// Dokku's rule for config keys: `^[A-Za-z_][A-Za-z0-9_]*$`.
pub fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes an environment in godotenv's format: sorted `K="v"` lines, plain
/// integers bare, a trailing newline.
pub fn serialize(env: &Env) -> String {
    let mut out = String::new();
    for (key, value) in env {
        out.push_str(key);
        out.push('=');
        if is_canonical_integer(value) {
            out.push_str(value);
        } else {
            out.push('"');
            out.push_str(&escape_double_quoted(value));
            out.push('"');
        }
        out.push('\n');
    }
    out
}

/// Reads a dotenv file: `export ` prefixes, `#` comments, bare, `'single'`
/// (literal) and `"double"` (escapes, `$VAR` expansion) values.
pub fn parse(src: &str) -> Result<Env, ParseError> {
    let src = src.replace("\r\n", "\n");
    let mut env = Env::new();
    let mut p = Parser {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
    };
    while let Some((key, value)) = p.statement(&env)? {
        env.insert(key, value);
    }
    Ok(env)
}

fn is_canonical_integer(value: &str) -> bool {
    value
        .parse::<i64>()
        .is_ok_and(|n| n.to_string() == value && value != "-0")
}

fn escape_double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '!' => out.push_str("\\!"),
            '$' => out.push_str("\\$"),
            '`' => out.push_str("\\`"),
            c => out.push(c),
        }
    }
    out
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

/// A piece of a value: literal text, or a `$NAME` to expand.
enum Piece {
    Text(char),
    Var(String),
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\x0b' | '\x0c' | '\r')) {
            self.bump();
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn statement(&mut self, env: &Env) -> Result<Option<(String, String)>, ParseError> {
        loop {
            match self.peek() {
                None => return Ok(None),
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => self.skip_line(),
                Some(_) => break,
            }
        }
        let rest: String = self.chars[self.pos..].iter().take(7).collect();
        if rest.len() == 7
            && rest.starts_with("export")
            && matches!(rest.chars().nth(6), Some(' ' | '\t'))
        {
            self.pos += 6;
            self.skip_blanks();
        }
        let key = self.key()?;
        self.skip_blanks();
        let value = match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let pieces = self.quoted(q, &key)?;
                // Whatever follows the closing quote on that line is a comment.
                self.skip_line();
                expand(pieces, env)
            }
            _ => {
                let pieces = self.bare();
                expand(pieces, env)
            }
        };
        Ok(Some((key, value)))
    }

    fn key(&mut self) -> Result<String, ParseError> {
        let mut key = String::new();
        loop {
            match self.peek() {
                Some('=' | ':') => {
                    self.bump();
                    return Ok(key);
                }
                Some(' ' | '\t') if !key.is_empty() => {
                    self.skip_blanks();
                    if !matches!(self.peek(), Some('=' | ':')) {
                        return Err(ParseError::MissingEquals {
                            key,
                            line: self.line,
                        });
                    }
                }
                Some(c) if c.is_alphanumeric() || c == '_' || c == '.' => {
                    key.push(c);
                    self.bump();
                }
                None | Some('\n') => {
                    return Err(ParseError::MissingEquals {
                        key,
                        line: self.line,
                    });
                }
                Some(ch) => {
                    return Err(ParseError::BadKey {
                        ch,
                        line: self.line,
                    });
                }
            }
        }
    }

    fn quoted(&mut self, quote: char, key: &str) -> Result<Vec<Piece>, ParseError> {
        let start_line = self.line;
        let mut pieces = Vec::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(ParseError::Unterminated {
                    key: key.to_string(),
                    line: start_line,
                });
            };
            match (quote, c) {
                (q, c) if c == q => return Ok(pieces),
                ('\'', '\\') if self.peek() == Some('\'') => {
                    // godotenv keeps an escaped single quote as written.
                    pieces.push(Piece::Text('\\'));
                    pieces.push(Piece::Text('\''));
                    self.bump();
                }
                ('"', '\\') => match self.bump() {
                    Some('n') => pieces.push(Piece::Text('\n')),
                    Some('r') => pieces.push(Piece::Text('\r')),
                    Some(other) => pieces.push(Piece::Text(other)),
                    None => {
                        return Err(ParseError::Unterminated {
                            key: key.to_string(),
                            line: start_line,
                        });
                    }
                },
                ('"', '$') => pieces.push(self.variable()),
                (_, c) => pieces.push(Piece::Text(c)),
            }
        }
    }

    /// An unquoted value: the rest of the line, trimmed, a ` #comment` dropped.
    fn bare(&mut self) -> Vec<Piece> {
        let mut raw = Vec::new();
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            if c == '#' && raw.last().is_some_and(|p: &char| p.is_whitespace()) {
                self.skip_line();
                break;
            }
            raw.push(c);
            self.bump();
        }
        while raw.last().is_some_and(|c| c.is_whitespace()) {
            raw.pop();
        }
        let mut sub = Parser {
            chars: raw,
            pos: 0,
            line: self.line,
        };
        let mut pieces = Vec::new();
        while let Some(c) = sub.bump() {
            match c {
                '\\' if sub.peek() == Some('$') => {
                    sub.bump();
                    pieces.push(Piece::Text('$'));
                }
                '$' => pieces.push(sub.variable()),
                c => pieces.push(Piece::Text(c)),
            }
        }
        pieces
    }

    /// After a `$`: `NAME` or `{NAME}` (godotenv expands `[A-Z0-9_]+` only);
    /// anything else leaves the `$` as text.
    fn variable(&mut self) -> Piece {
        let braced = self.peek() == Some('{');
        let start = self.pos;
        if braced {
            self.pos += 1;
        }
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if name.is_empty() {
            self.pos = start;
            return Piece::Text('$');
        }
        if braced {
            if self.peek() == Some('}') {
                self.pos += 1;
            } else {
                self.pos = start;
                return Piece::Text('$');
            }
        }
        Piece::Var(name)
    }
}

fn expand(pieces: Vec<Piece>, env: &Env) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(c) => out.push(c),
            Piece::Var(name) => out.push_str(env.get(&name).map(String::as_str).unwrap_or("")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn writes_godotenv_format() {
        let e = env(&[
            ("B", "x y"),
            ("A", "42"),
            ("C", "007"),
            ("D", "a\"$!`\\\n\r"),
        ]);
        assert_eq!(
            serialize(&e),
            "A=42\nB=\"x y\"\nC=\"007\"\nD=\"a\\\"\\$\\!\\`\\\\\\n\\r\"\n"
        );
    }

    #[test]
    fn reads_what_dokku_writes() {
        let src = "# comment\nexport A=1\nB=\"line1\\nline2\"\nC='lit $A \\n'\nD=bare value # note\nE=\"x$A ${A}y \\$A\"\n";
        assert_eq!(
            parse(src).unwrap(),
            env(&[
                ("A", "1"),
                ("B", "line1\nline2"),
                ("C", "lit $A \\n"),
                ("D", "bare value"),
                ("E", "x1 1y $A"),
            ])
        );
    }

    #[test]
    fn value_ending_in_backslash_round_trips() {
        let e = env(&[("A", "ends\\")]);
        assert_eq!(parse(&serialize(&e)).unwrap(), e);
    }

    #[test]
    fn crlf_files_and_empty_values() {
        assert_eq!(
            parse("A=\r\nB=\"\"\r\n").unwrap(),
            env(&[("A", ""), ("B", "")])
        );
    }

    #[test]
    fn reports_broken_files() {
        assert!(matches!(
            parse("A=\"open"),
            Err(ParseError::Unterminated { .. })
        ));
        assert!(matches!(parse("A;B=1"), Err(ParseError::BadKey { .. })));
        assert!(matches!(
            parse("JUSTKEY\n"),
            Err(ParseError::MissingEquals { .. })
        ));
    }

    #[test]
    fn key_rule() {
        assert!(is_valid_key("A_1"));
        assert!(is_valid_key("_x"));
        assert!(!is_valid_key("1A"));
        assert!(!is_valid_key("A-B"));
        assert!(!is_valid_key(""));
    }

    proptest! {
        #[test]
        fn round_trip(pairs in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,12}", "[^\u{0}]{0,40}", 0..8)) {
            let text = serialize(&pairs);
            prop_assert_eq!(parse(&text).unwrap(), pairs);
        }

        #[test]
        fn round_trip_of_shell_hostile_values(v in proptest::collection::vec(prop_oneof![
            Just("\\".to_string()), Just("\"".to_string()), Just("'".to_string()),
            Just("$".to_string()), Just("${A}".to_string()), Just("\n".to_string()),
            Just("\r".to_string()), Just(" ".to_string()), Just("#".to_string()),
            Just("=".to_string()), Just("`".to_string()), Just("!".to_string()),
            "[a-z0-9]{0,3}",
        ], 0..12)) {
            let e: Env = [("A".to_string(), "1".to_string()), ("K".to_string(), v.concat())].into();
            prop_assert_eq!(parse(&serialize(&e)).unwrap(), e);
        }
    }
}
