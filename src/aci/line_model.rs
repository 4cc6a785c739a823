//! A model of the line counter of MLGym's own shell.
//!
//! Bash prints `/bin/bash: line N: ...` with N counted over everything its stdin ever
//! carried. MLGym's shell reads far more lines per step than ours (a syntax-check
//! heredoc, a state command, the `LAST_ACTION` export), so to print the same N we pad our
//! input with empty lines until the `eval` of the action sits where MLGym's run started.
//! The constants were calibrated against the golden ACI vectors
//! (docs/internals/shell-protocol.md, "MLGym line model").

/// Line at which MLGym's syntax check of the first action starts.
const FIRST_CHECK_LINE: u64 = 121;
/// Lines MLGym's state command (syntax check plus run) consumes before each step.
const STATE_LINES: u64 = 6;

/// Tracks where MLGym's shell would be.
#[derive(Debug, Clone)]
pub struct MlgymLineModel {
    /// MLGym line where the next step's syntax check starts.
    next_check: u64,
}

impl Default for MlgymLineModel {
    fn default() -> Self {
        Self {
            next_check: FIRST_CHECK_LINE,
        }
    }
}

fn line_count(text: &str) -> u64 {
    text.split('\n').count() as u64
}

/// Index (1-based) of the first line that is exactly `EOF`, which ends MLGym's
/// syntax-check heredoc early.
pub fn eof_line_index(action: &str) -> Option<u64> {
    action
        .split('\n')
        .position(|l| l == "EOF")
        .map(|i| i as u64 + 1)
}

impl MlgymLineModel {
    /// The MLGym line at which the text `eval`ed for `action` starts: the run line, or in
    /// the `EOF` case the first leftover line after the check heredoc ended.
    pub fn eval_line(&self, action: &str) -> u64 {
        let n = line_count(action);
        match eof_line_index(action) {
            Some(k) => self.next_check + k + 1,
            None => self.next_check + n + 3,
        }
    }

    /// Advances past a step whose action reached the shell.
    pub fn after_shell_step(&mut self, action: &str, ran: bool) {
        let n = line_count(action);
        let mut used = n + 3;
        if ran {
            let m = line_count(action.trim());
            used += (n + 1) + (m + 1);
        }
        self.next_check += used + STATE_LINES;
    }

    /// Advances past a step the env answered without the shell (malformed edit, ...).
    pub fn after_env_step(&mut self) {
        self.next_check += STATE_LINES;
    }
}

impl crate::shell::LineModel for MlgymLineModel {
    fn eval_line(&self, action: &str) -> u64 {
        MlgymLineModel::eval_line(self, action)
    }

    fn after_shell_step(&mut self, action: &str, ran: bool) {
        MlgymLineModel::after_shell_step(self, action, ran);
    }

    fn after_env_step(&mut self) {
        MlgymLineModel::after_env_step(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredoc_eof_lines_match_golden_shape() {
        let mut m = MlgymLineModel::default();
        let a1 = "cat > extra.py << 'EOF'\nprint('from heredoc')\nEOF";
        assert_eq!(m.eval_line(a1), 125);
        m.after_shell_step(a1, false);
        m.after_shell_step("python extra.py", true);
        let a3 = "cat << EOF\nline one\nline two\nEOF";
        assert_eq!(m.eval_line(a3), 152);
    }

    #[test]
    fn lineno_after_a_failed_check_and_a_malformed_edit() {
        // The worked example of docs/internals/shell-protocol.md, "MLGym line model".
        let mut m = MlgymLineModel::default();
        assert_eq!(m.eval_line("echo $LINENO"), 125);
        m.after_shell_step("echo $LINENO", true);
        assert_eq!(m.next_check, 135);
        m.after_shell_step("echo (", false);
        assert_eq!(m.next_check, 145);
        m.after_env_step();
        assert_eq!(m.next_check, 151);
        // `cd /nonexistent` is the second line of the action: line 157.
        assert_eq!(m.eval_line("echo a\ncd /nonexistent") + 1, 157);
    }
}
