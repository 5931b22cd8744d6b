//! Splitting a command line into argv words without a shell, and the one
//! expansion berth does itself (`$VAR` in Procfile commands).
//!
//! Quoting follows what `xargs` and a POSIX shell agree on: blanks separate
//! words, `'…'` is literal, `"…"` allows `\"` and `\\`, a backslash outside
//! quotes escapes the next character. Nothing is ever evaluated.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("unterminated {0} quote")]
    Unterminated(&'static str),
    #[error("trailing backslash")]
    TrailingBackslash,
}

pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                word.push(chars.next().ok_or(SplitError::TrailingBackslash)?);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::Unterminated("single")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::Unterminated("double")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::Unterminated("double")),
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
        split(line).unwrap()
    }

    #[test]
    fn splits_like_xargs() {
        assert_eq!(s("apps:list"), vec!["apps:list"]);
        assert_eq!(
            s("  config:set demo  'A=a b' "),
            vec!["config:set", "demo", "A=a b"]
        );
        assert_eq!(
            s("config:set demo K=\"a b\""),
            vec!["config:set", "demo", "K=a b"]
        );
        assert_eq!(
            s("config:set demo K=a\\ b"),
            vec!["config:set", "demo", "K=a b"]
        );
        assert_eq!(
            s("git-receive-pack '/demo.git'"),
            vec!["git-receive-pack", "/demo.git"]
        );
        assert_eq!(
            s("--force apps:destroy x"),
            vec!["--force", "apps:destroy", "x"]
        );
        assert_eq!(s("a '' b"), vec!["a", "", "b"]);
        assert_eq!(
            s(r#"x "q\"d" 'it''s' $HOME ;"#),
            vec!["x", "q\"d", "its", "$HOME", ";"]
        );
        assert_eq!(s(""), Vec::<String>::new());
    }

    #[test]
    fn refuses_unterminated() {
        assert_eq!(split("a 'b"), Err(SplitError::Unterminated("single")));
        assert_eq!(split("a \"b"), Err(SplitError::Unterminated("double")));
        assert_eq!(split("a \\"), Err(SplitError::TrailingBackslash));
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
