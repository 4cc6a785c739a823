//! Pure functions over action strings: MLGym's multi-line guard, the malformed-edit
//! check, the (working) blocklist, the timeout class, and validate/submit detection.

use regex::Regex;
use std::sync::OnceLock;

/// Multi-line commands and their end markers.
const MULTILINE: [(&str, &str); 2] = [("edit", "end_of_edit"), ("insert", "end_of_insert")];

/// Interactive editors: blocked when they are the first word.
const BLOCK_PREFIX: [&str; 4] = ["vim", "vi", "emacs", "nano"];
/// Blocked when they are the whole action (they would wait for input).
const BLOCK_STANDALONE: [&str; 10] = [
    "python",
    "python3",
    "ipython",
    "bash",
    "sh",
    "/bin/bash",
    "/bin/sh",
    "su",
    "vim",
    "vi",
];

/// Turns each `edit`/`insert` block into a bash heredoc by appending
/// ` << 'end_of_edit'` (or `end_of_insert`) to its first line, then strips the action.
///
/// Unlike MLGym's guard this never truncates text that precedes the block
/// (docs/compatibility.md).
pub fn guard_multiline_input(action: &str) -> String {
    let lines: Vec<&str> = action.split('\n').collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let first_word = line.split_whitespace().next().unwrap_or("");
        let block = MULTILINE
            .iter()
            .find(|(name, _)| first_word == *name && line.trim_start().starts_with(name));
        if let Some((_, end)) = block {
            let end_at = lines[i + 1..]
                .iter()
                .position(|l| l.starts_with(end) && l[end.len()..].trim().is_empty())
                .map(|p| p + i + 1);
            if let Some(end_at) = end_at {
                let heredoc = format!("<< '{end}'");
                if line.trim_end().ends_with(&heredoc) {
                    out.push(line.to_string());
                } else {
                    out.push(format!("{line} {heredoc}"));
                }
                out.extend(lines[i + 1..=end_at].iter().map(|l| l.to_string()));
                i = end_at + 1;
                continue;
            }
        }
        out.push(line.to_string());
        i += 1;
    }
    out.join("\n").trim().to_string()
}

/// MLGym's check: an action starting `edit N:M` that lacks `end_of_edit`.
pub fn is_malformed_edit(action: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^edit \d+:\d+").expect("static regex"));
    re.is_match(action) && !action.contains("end_of_edit")
}

/// The env's answer to a malformed edit.
pub const MALFORMED_EDIT_MESSAGE: &str =
    "Malformed edit command. Please ensure you use the `end_of_edit` keyword to mark the end of your edit.";

/// Returns the blocked command name when the action would start an interactive program.
pub fn blocked_command(action: &str) -> Option<String> {
    let trimmed = action.trim();
    if BLOCK_STANDALONE.contains(&trimmed) {
        return Some(trimmed.to_string());
    }
    let first = trimmed.split_whitespace().next()?;
    BLOCK_PREFIX.contains(&first).then(|| first.to_string())
}

/// MLGym's blocklist message.
pub fn blocked_message(name: &str) -> String {
    format!("Interactive operation '{name}' is not supported by this environment")
}

/// Whether the action runs a training-like command and so gets the long timeout.
///
/// MLGym matches substrings (so `cat python.txt` counts and `pip install` does not);
/// we match whole command words and include package installers
/// (docs/compatibility.md).
pub fn is_long_running(action: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"(?m)(?:^|[\s;&|()`])(?:\S*/)?(?:python[0-9.]*|torchrun|accelerate|deepspeed|pip[0-9.]*|conda|uv)(?:\s|$|;|&|\|)",
        )
        .expect("static regex")
    });
    re.is_match(action)
}

/// Which grading request the shell output carries, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradingRequest {
    /// `validate` ran.
    Validate,
    /// `submit` ran.
    Submit,
}

/// MLGym detects validate/submit by markers in the output of any command.
pub fn grading_request(observation: &str) -> Option<GradingRequest> {
    static VALIDATE: OnceLock<Regex> = OnceLock::new();
    static SUBMIT: OnceLock<Regex> = OnceLock::new();
    let v = VALIDATE
        .get_or_init(|| Regex::new(r"(?s)<<VALIDATION\|\|(.*)\|\|VALIDATION>>").expect("static"));
    let s = SUBMIT
        .get_or_init(|| Regex::new(r"(?s)<<SUBMISSION\|\|(.*)\|\|SUBMISSION>>").expect("static"));
    if v.is_match(observation) {
        Some(GradingRequest::Validate)
    } else if s.is_match(observation) {
        Some(GradingRequest::Submit)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_appends_heredoc() {
        assert_eq!(
            guard_multiline_input("edit 1:2\nfoo\nend_of_edit\n"),
            "edit 1:2 << 'end_of_edit'\nfoo\nend_of_edit"
        );
        assert_eq!(
            guard_multiline_input("insert 3\nx\nend_of_insert"),
            "insert 3 << 'end_of_insert'\nx\nend_of_insert"
        );
    }

    #[test]
    fn guard_keeps_text_before_block() {
        assert_eq!(
            guard_multiline_input("ls\nedit 1:2\nfoo\nend_of_edit"),
            "ls\nedit 1:2 << 'end_of_edit'\nfoo\nend_of_edit"
        );
    }

    #[test]
    fn guard_leaves_unterminated_edit() {
        assert_eq!(guard_multiline_input("edit 1:2\nfoo"), "edit 1:2\nfoo");
    }

    #[test]
    fn malformed_edit() {
        assert!(is_malformed_edit("edit 3:4\n    pass"));
        assert!(!is_malformed_edit("edit 3:4\n    pass\nend_of_edit"));
        assert!(!is_malformed_edit("edit 3\nfoo"));
    }

    #[test]
    fn blocklist_fires_on_first_word() {
        assert_eq!(blocked_command("vim train.py").as_deref(), Some("vim"));
        assert_eq!(blocked_command(" python ").as_deref(), Some("python"));
        assert_eq!(blocked_command("python train.py"), None);
        assert_eq!(blocked_command("visualize.sh"), None);
    }

    #[test]
    fn long_running_detection() {
        assert!(is_long_running("python train.py"));
        assert!(is_long_running("rm x && python3 y.py"));
        assert!(is_long_running("pip install numpy"));
        assert!(is_long_running("/usr/bin/python3 -c 1"));
        assert!(!is_long_running("cat python.txt"));
        assert!(!is_long_running("ls"));
    }

    #[test]
    fn grading_markers() {
        assert_eq!(
            grading_request("x\n<<VALIDATION||\nvalidating file\n||VALIDATION>>"),
            Some(GradingRequest::Validate)
        );
        assert_eq!(
            grading_request("<<SUBMISSION||s||SUBMISSION>>"),
            Some(GradingRequest::Submit)
        );
        assert_eq!(grading_request("nothing"), None);
    }
}
