//! The bash runtime every episode's shell sources, and the prelude that makes a plain
//! bash look like MLGym's shell (its variable defaults, aliases and line counter).
//!
//! The runtime is four files joined in this order; each starts with a section divider,
//! so the result reads as one script (`docs/internals/shell-protocol.md`):
//! - `protocol.sh`: set-up and the step protocol (`__mlgym_pre`, `__mlgym_post`);
//! - `helpers.sh`: file loading, windowing and jq-compatible arithmetic;
//! - `commands.sh`: MLGym's interface commands (`open`, `edit`, `search_dir`, ...);
//! - `lint.sh`: the client of the lint server `lintd.py`.

use super::line_model::MlgymLineModel;
use crate::shell::{ShellError, ShellFactory, ShellPrelude, ShellSession};
use crate::sys::quote::shell_quote;

/// The bash runtime sourced into every shell: step helpers and the ACI commands.
pub const RUNTIME_SH: &str = concat!(
    include_str!("protocol.sh"),
    include_str!("helpers.sh"),
    include_str!("commands.sh"),
    include_str!("lint.sh"),
);

/// The lint server the runtime starts as a coprocess for `edit` and `insert`.
pub const LINTD_PY: &str = include_str!("lintd.py");

/// The runtime's files as the sandbox installs them side by side (`runtime.sh` finds
/// `lintd.py` next to itself): `(file name, contents)`.
pub const RUNTIME_FILES: [(&str, &str); 2] = [("runtime.sh", RUNTIME_SH), ("lintd.py", LINTD_PY)];

/// MLGym's ACI variables as its env sets them at reset; the caller's variables follow
/// and may override them.
const ACI_DEFAULTS: &str = "WINDOW=1000; OVERLAP=2; CURRENT_LINE=0; CURRENT_FILE=; SEARCH_RESULTS=(); SEARCH_FILES=(); SEARCH_INDEX=0\n";

/// The aliases of MLGym's image (`ls` is `ls -F`), which agents' observations rely on.
const MLGYM_ALIASES: &str = "alias ll='ls -alF'\nalias la='ls -A'\nalias l='ls -CF'\nalias ls='ls -F'\nshopt -s expand_aliases\n";

/// The prelude of an ACI shell: MLGym's defaults, then `shell_vars` (`NAME`, value)
/// assigned in order, MLGym's aliases, and MLGym's line model.
pub fn aci_prelude(shell_vars: &[(String, String)]) -> ShellPrelude {
    let mut before_runtime = ACI_DEFAULTS.to_string();
    for (name, value) in shell_vars {
        before_runtime.push_str(&format!("{name}={}\n", shell_quote(value)));
    }
    ShellPrelude {
        before_runtime,
        after_runtime: MLGYM_ALIASES.to_string(),
        line_model: Some(Box::new(MlgymLineModel::default())),
    }
}

/// Starts a shell that behaves like MLGym's: [`ShellSession::start`] with
/// [`aci_prelude`] of `shell_vars`.
pub fn start_shell(
    factory: Box<dyn ShellFactory>,
    cwd: &str,
    shell_vars: &[(String, String)],
) -> Result<ShellSession, ShellError> {
    ShellSession::start(factory, cwd, aci_prelude(shell_vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_parts_join_on_line_boundaries() {
        for part in [
            include_str!("protocol.sh"),
            include_str!("helpers.sh"),
            include_str!("commands.sh"),
            include_str!("lint.sh"),
        ] {
            assert!(part.ends_with('\n'));
            assert!(RUNTIME_SH.contains(part));
        }
        assert!(RUNTIME_SH.starts_with("# mlgym-rs shell runtime"));
    }

    #[test]
    fn caller_variables_follow_the_defaults_quoted() {
        let prelude = aci_prelude(&[("WINDOW".into(), "10".into()), ("X".into(), "a'b".into())]);
        assert!(prelude.before_runtime.starts_with(ACI_DEFAULTS));
        assert!(prelude
            .before_runtime
            .ends_with("WINDOW='10'\nX='a'\\''b'\n"));
        assert_eq!(prelude.after_runtime, MLGYM_ALIASES);
        assert!(prelude.line_model.is_some());
    }
}
