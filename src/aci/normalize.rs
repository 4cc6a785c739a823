//! MLGym's observation normalisation, reproduced exactly (docs/internals/shell-protocol.md).
//!
//! Byte-identical observations depend on every detail here: lossy decoding with
//! `\xNN` escapes, Python's `splitlines` break set, dropping empty lines and tqdm
//! progress lines, and no trailing newline.

use regex::Regex;
use std::sync::OnceLock;

fn tqdm_line() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // MLGym's pattern is `(?:.*?:\s*)?(\d+%\|.*?\|.*\[.*?\])` used with `re.search`;
    // the optional prefix never changes whether a line matches.
    RE.get_or_init(|| Regex::new(r"\d+%\|.*?\|.*\[.*?\]").expect("static regex"))
}

/// Decodes bytes as UTF-8, replacing each invalid byte with `\xNN` like Python's
/// `errors="backslashreplace"`.
pub fn decode_backslashreplace(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Splits like Python's `str.splitlines()` (without keepends).
pub fn python_splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\u{0b}'
                | '\u{0c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        lines.push(&text[start..i]);
        let mut next = i + c.len_utf8();
        if c == '\r' {
            if let Some(&(j, '\n')) = chars.peek() {
                chars.next();
                next = j + 1;
            }
        }
        start = next;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Normalises raw shell output into an observation, as MLGym does.
///
/// `exit_code` is used only to strip a literal `///PROCESS-DONE:<code>:PROCESS-DONE///`
/// left inside a line, which MLGym removes too.
pub fn normalize_output(raw: &[u8], exit_code: Option<i32>) -> String {
    let decoded = decode_backslashreplace(raw).replace("\r\n", "\n");
    let kept: Vec<&str> = python_splitlines(&decoded)
        .into_iter()
        .filter(|line| {
            !line.is_empty() && !line.starts_with("///PROCESS-DONE:") && !tqdm_line().is_match(line)
        })
        .collect();
    let joined = kept.join("\n");
    match exit_code {
        Some(code) => joined.replace(&format!("///PROCESS-DONE:{code}:PROCESS-DONE///"), ""),
        None => joined,
    }
}

/// Caps an observation at `limit` characters, keeping the head and the tail with a
/// marker line in between that says how much was left out.
pub fn cap_observation(text: String, limit: usize) -> String {
    let total = text.chars().count();
    if total <= limit {
        return text;
    }
    let head_chars = limit / 2;
    let tail_chars = limit - head_chars;
    let head_end = text
        .char_indices()
        .nth(head_chars)
        .map_or(text.len(), |(i, _)| i);
    let tail_start = text
        .char_indices()
        .nth(total - tail_chars)
        .map_or(text.len(), |(i, _)| i);
    let omitted = total - head_chars - tail_chars;
    format!(
        "{}\n[... observation truncated: {omitted} characters omitted (limit {limit}) ...]\n{}",
        &text[..head_end],
        &text[tail_start..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_empty_lines_and_trailing_newline() {
        assert_eq!(normalize_output(b"a\n\nb\n", Some(0)), "a\nb");
        assert_eq!(normalize_output(b"", Some(0)), "");
    }

    #[test]
    fn whitespace_only_lines_survive() {
        assert_eq!(normalize_output(b"a\n  \nb", None), "a\n  \nb");
    }

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(
            python_splitlines("a\rb\r\nc\x0bd\u{2028}e\n"),
            vec!["a", "b", "c", "d", "e"]
        );
        assert_eq!(python_splitlines("x\n\ny"), vec!["x", "", "y"]);
    }

    #[test]
    fn crlf_replacement_then_split() {
        // "\r\r\n" becomes "\r\n" after one replace pass: a single break.
        assert_eq!(normalize_output(b"a\r\r\nb", None), "a\nb");
    }

    #[test]
    fn invalid_utf8_is_backslash_escaped() {
        assert_eq!(normalize_output(b"ok\xff\xfe!", None), "ok\\xff\\xfe!");
    }

    #[test]
    fn tqdm_lines_are_dropped() {
        let raw = "start\n 50%|#####     | 5/10 [00:01<00:01, 5.00it/s]\nend";
        assert_eq!(normalize_output(raw.as_bytes(), None), "start\nend");
    }

    #[test]
    fn process_done_literal_removed() {
        assert_eq!(
            normalize_output(
                b"abc///PROCESS-DONE:0:PROCESS-DONE///\n///PROCESS-DONE:x",
                Some(0)
            ),
            "abc"
        );
    }

    #[test]
    fn cap_keeps_head_and_tail() {
        let text: String = "x".repeat(50) + &"y".repeat(50);
        let capped = cap_observation(text, 20);
        assert!(capped.starts_with("xxxxxxxxxx\n[... observation truncated: 80 characters"));
        assert!(capped.ends_with("\nyyyyyyyyyy"));
        assert_eq!(cap_observation("short".into(), 20), "short");
    }
}
