//! What the layer above puts around the runtime at every (re)start of a shell, and how
//! it keeps bash's line counter where an emulated shell would have it. The shell layer
//! only runs these; what they contain (MLGym's defaults and aliases, its line model) is
//! the ACI's business (`crate::aci::runtime`).

/// Keeps bash's `line N` (in its error messages) where an emulated shell would print it,
/// by padding the input with empty lines before each action's `eval`.
pub trait LineModel: Send {
    /// The input line at which the `eval` of `action` must sit; lines already sent count,
    /// so a value at or below the current line means no padding.
    fn eval_line(&self, action: &str) -> u64;
    /// Advances past a step whose action reached the shell (`ran`: it passed the
    /// syntax check and was run).
    fn after_shell_step(&mut self, action: &str, ran: bool);
    /// Advances past a step answered without the shell (a rejected action).
    fn after_env_step(&mut self);
}

/// Shell text and line model supplied by the caller of [`super::ShellSession::start`].
/// The script sent at each start is: `before_runtime`, sourcing the runtime (and, after a
/// respawn, the saved state), `cd` to the working directory, then `after_runtime`.
#[derive(Default)]
pub struct ShellPrelude {
    /// Runs before the runtime is sourced: variables the runtime reads at source time.
    pub before_runtime: String,
    /// Runs last: definitions the agent's commands rely on (aliases, options).
    pub after_runtime: String,
    /// Line padding; `None` sends actions unpadded.
    pub line_model: Option<Box<dyn LineModel>>,
}

impl std::fmt::Debug for ShellPrelude {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellPrelude")
            .field("before_runtime", &self.before_runtime)
            .field("after_runtime", &self.after_runtime)
            .field("line_model", &self.line_model.is_some())
            .finish()
    }
}
