//! Splitting a command line into argv words without a shell — SSH `exec`
//! commands (Dokku re-splits `SSH_ORIGINAL_COMMAND` with `xargs`) and
//! Procfile commands alike — and the one expansion berth does itself
//! (`$VAR` in Procfile commands). Nothing is evaluated, expanded or globbed.
//!
//! GNU xargs' rules, exactly: blanks (space, tab, newline, ...) separate
//! words; `'…'` and `"…"` quote everything up to the matching quote,
//! backslashes included; outside quotes a backslash makes the next
//! character literal; an empty pair of quotes is an empty word.

use std::collections::BTreeMap;

/// Why a command line cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("unmatched {0} quote")]
    UnmatchedQuote(&'static str),
    #[error("a backslash ends the command")]
    TrailingBackslash,
    #[error("the command contains a NUL byte")]
    Nul,
}

/// Splits `line` into words; see the module documentation for the rules.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    if line.contains('\0') {
        return Err(SplitError::Nul);
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_ascii_whitespace() || c == '\x0b' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                word.push(chars.next().ok_or(SplitError::TrailingBackslash)?);
                in_word = true;
            }
            quote @ ('\'' | '"') => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(c) if c == quote => break,
                        // xargs ends an item at a newline, even inside quotes.
                        Some('\n') | None => return Err(SplitError::UnmatchedQuote(kind(quote))),
                        Some(c) => word.push(c),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn kind(quote: char) -> &'static str {
    if quote == '\'' { "single" } else { "double" }
}

/// Replaces `$NAME` and `${NAME}` with values from `env` (unset: empty);
/// `\$` stays a literal `$`.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push_str("\\$");
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        let braced = chars.get(i + 1) == Some(&'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut end = start;
        while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
            end += 1;
        }
        let closed = !braced || chars.get(end) == Some(&'}');
        if end == start || !closed || chars[start].is_ascii_digit() {
            out.push('$');
            i += 1;
            continue;
        }
        let name: String = chars[start..end].iter().collect();
        out.push_str(env.get(&name).map_or("", String::as_str));
        i = if braced { end + 1 } else { end };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(line: &str) -> Vec<String> {
        split(line).expect("splits")
    }

    #[test]
    fn blanks_separate_words() {
        assert_eq!(s("apps:list"), vec!["apps:list"]);
        assert_eq!(s("  apps:create\tdemo \n"), vec!["apps:create", "demo"]);
        assert_eq!(s(""), Vec::<String>::new());
        assert_eq!(s("   "), Vec::<String>::new());
    }

    #[test]
    fn git_sends_the_repository_quoted() {
        assert_eq!(
            s("git-receive-pack '/demo.git'"),
            vec!["git-receive-pack", "/demo.git"]
        );
        assert_eq!(s("git-upload-pack 'demo'"), vec!["git-upload-pack", "demo"]);
    }

    #[test]
    fn quotes_join_words() {
        assert_eq!(
            s("config:set demo K=\"a b\""),
            vec!["config:set", "demo", "K=a b"]
        );
        assert_eq!(
            s("config:set demo 'A=a b'"),
            vec!["config:set", "demo", "A=a b"]
        );
        assert_eq!(s("a'b'\"c\"d"), vec!["abcd"]);
        assert_eq!(s("x '' y \"\""), vec!["x", "", "y", ""]);
        assert_eq!(s(r#"'say "hi"' "it's""#), vec!["say \"hi\"", "it's"]);
    }

    #[test]
    fn backslash_escapes_outside_quotes_only() {
        assert_eq!(s(r"K=a\ b"), vec!["K=a b"]);
        assert_eq!(s(r"\'x\' \\"), vec!["'x'", "\\"]);
        assert_eq!(s(r#""a\b" 'c\d'"#), vec![r"a\b", r"c\d"]);
    }

    #[test]
    fn nothing_is_evaluated() {
        assert_eq!(
            s("run demo $HOME `id` $(id) *.txt ; && |"),
            vec![
                "run", "demo", "$HOME", "`id`", "$(id)", "*.txt", ";", "&&", "|"
            ]
        );
    }

    #[test]
    fn global_flags_stay_words() {
        assert_eq!(
            s("--force apps:destroy x"),
            vec!["--force", "apps:destroy", "x"]
        );
    }

    #[test]
    fn refuses_what_xargs_refuses() {
        assert_eq!(split("a 'b"), Err(SplitError::UnmatchedQuote("single")));
        assert_eq!(split("a \"b"), Err(SplitError::UnmatchedQuote("double")));
        assert_eq!(split("a 'b\nc'"), Err(SplitError::UnmatchedQuote("single")));
        assert_eq!(split("a \\"), Err(SplitError::TrailingBackslash));
        assert_eq!(split("a\0b"), Err(SplitError::Nul));
    }

    #[test]
    fn expands_variables() {
        let env = BTreeMap::from([
            ("PORT".to_string(), "5000".to_string()),
            ("A_B".to_string(), "x".to_string()),
        ]);
        assert_eq!(
            expand("serve -p $PORT ${A_B}y $NOPE \\$PORT $ $1", &env),
            "serve -p 5000 xy  \\$PORT $ $1"
        );
    }
}
