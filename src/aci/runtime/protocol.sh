# mlgym-rs shell runtime (pure bash 5.x): protocol.sh (this part), helpers.sh,
# commands.sh and lint.sh from src/aci/runtime/, joined in that order at compile time.
# Sourced once into every episode's shell (docs/internals/shell-protocol.md). It provides
#   * the step helpers `__mlgym_pre` / `__mlgym_post` of the step protocol, including
#     MLGym's `bash -n` syntax check and its `EOF` quirk;
#   * MLGym's interface commands (`open`, `goto`, `scroll_up`, `scroll_down`, `create`,
#     `edit`, `insert`, `search_dir`, `search_file`, `find_file`, `validate`, `submit`)
#     with MLGym's observable messages (deliberate differences: docs/compatibility.md).
#
# This is an independent implementation written from MLGym's observed behaviour; it
# shares no code with MLGym. Window arithmetic is done natively in bash integers (values
# that MLGym computes with jq are always multiples of 1/2, so they are kept doubled), and
# the hot paths (`open`, `goto`, `scroll_*`) avoid forking.
#
# Environment read:
#   __MLGYM_STATE_FILE  where the exported state is saved after every step (for respawns)
#   __MLGYM_LINTD       path of lintd.py (default: lintd.py next to this file)
#   __MLGYM_TMPDIR      scratch directory (default: "$__MLGYM_STATE_FILE.d", else a new
#                       directory under ${TMPDIR:-/tmp}); holds the lint FIFOs too
#   WINDOW OVERLAP CURRENT_LINE CURRENT_FILE SEARCH_RESULTS SEARCH_FILES SEARCH_INDEX
#
# Every internal name starts with `__mlgym_` so it cannot clash with the agent's own.

# ---------------------------------------------------------------------------------------
# Set-up (runs once, when sourced)
# ---------------------------------------------------------------------------------------

# MLGym exports these at reset (`export CURRENT_FILE="" && export CURRENT_LINE=0 ...`).
export CURRENT_FILE="${CURRENT_FILE-}" CURRENT_LINE="${CURRENT_LINE-0}" SEARCH_INDEX="${SEARCH_INDEX-0}"
export SEARCH_RESULTS SEARCH_FILES 2>/dev/null

if [[ -z ${__MLGYM_LINTD-} ]]; then
    __MLGYM_LINTD=${BASH_SOURCE[0]%/*}/lintd.py
    [[ ${BASH_SOURCE[0]} == */* ]] || __MLGYM_LINTD=./lintd.py
fi
# Scratch files (check output, search results, the lint FIFOs): next to the state file
# (which the Rust side keeps on a tmpfs) or in a fresh temporary directory.
if [[ -z ${__MLGYM_TMPDIR-} || ! -d ${__MLGYM_TMPDIR-} ]]; then
    if [[ -n ${__MLGYM_STATE_FILE-} ]] && mkdir -p "$__MLGYM_STATE_FILE.d" 2>/dev/null; then
        __MLGYM_TMPDIR=$__MLGYM_STATE_FILE.d
    else
        __MLGYM_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/mlgym-rt.XXXXXX" 2>/dev/null) ||
            __MLGYM_TMPDIR=${TMPDIR:-/tmp}
    fi
fi

# Where MLGym's own command files live: some bash errors raised inside its functions
# name them, and the observations show those names.
__mlgym_defaults_sh=/home/agent/commands/defaults.sh
__mlgym_edit_sh=/home/agent/commands/edit_linting.sh
__mlgym_insert_sh=/home/agent/commands/insert_linting.sh
# Line numbers of the statements in MLGym's files that raise those errors. 208 is
# confirmed by the golden vectors; the others are derived from the same file layout.
__mlgym_ln_create=208
__mlgym_ln_edit_arith=53
__mlgym_ln_edit_end_arith=54
__mlgym_ln_edit_slice=83
__mlgym_ln_insert_arith=43

# Beyond this many lines, files are windowed with awk instead of bash arrays.
__mlgym_big_lines=200000

# Step-protocol state.
__mlgym_cmd=
__mlgym_cmd2=
__mlgym_action=
__mlgym_ran=1
__mlgym_chk=0
__mlgym_eof=0
__mlgym_internal=0

# ---------------------------------------------------------------------------------------
# Step protocol
# ---------------------------------------------------------------------------------------

# __mlgym_pre SEQ [internal] <<'DELIM' ... DELIM
# Reads the action from stdin, performs MLGym's syntax check and sets __mlgym_cmd to the
# text the following `eval` must run. With `internal` (set-up steps) there is no check
# and no LAST_ACTION export.
__mlgym_pre() {
    local __a=
    IFS= read -r -d '' __a || :
    __a=${__a%$'\n'}
    __mlgym_action=$__a
    __mlgym_ran=1
    __mlgym_chk=0
    __mlgym_eof=0
    __mlgym_cmd=
    __mlgym_cmd2=
    __mlgym_internal=0
    if [[ ${2-} == internal ]]; then
        __mlgym_internal=1
        __mlgym_cmd=$__a
        return 0
    fi
    # MLGym checks `/bin/bash -n <<'EOF'\n<action>\nEOF`: a line `EOF` in the action
    # ends that heredoc early and the rest runs in the main shell.
    if [[ $'\n'$__a$'\n' == *$'\nEOF\n'* ]]; then
        __mlgym_pre_eof "$__a"
        return 0
    fi
    if ! __mlgym_probe "$__a"; then
        local __rc=0
        /bin/bash -n <<<"$__a" >"$__MLGYM_TMPDIR/check" 2>&1 || __rc=$?
        if [[ $__rc != 0 ]]; then
            __mlgym_cat "$__MLGYM_TMPDIR/check"
            __mlgym_ran=0
            __mlgym_chk=$__rc
            return 0
        fi
    fi
    # The leading `:` gives `$_` the value it has in MLGym (its check's marker echo).
    __mlgym_cmd=": ///PROCESS-DONE:0:PROCESS-DONE///; $__a"
    return 0
}

# Cheap in-process syntax probe: parse the action as a function body without running it.
# Only a failure here costs a `/bin/bash -n` fork (which decides).
__mlgym_probe() {
    local __x=0 __e=0 __rc=0
    if shopt -q extglob; then __x=1; fi
    if shopt -q expand_aliases; then __e=1; fi
    shopt -u extglob expand_aliases
    eval "__mlgym_probe_fn() { :
$1
}" >/dev/null 2>&1 || __rc=1
    unset -f __mlgym_probe_fn
    if [[ $__x == 1 ]]; then shopt -s extglob; fi
    if [[ $__e == 1 ]]; then shopt -s expand_aliases; fi
    return $__rc
}

# The `EOF` case. MLGym's check runs `/bin/bash -n` on the lines before the first `EOF`
# line; the lines after it, plus the check's own closing `EOF` line, run in the main
# shell. The check fails (its output is the observation, the action does not run) unless
# that leftover exits 0, in which case the action runs as usual.
__mlgym_pre_eof() {
    local __t=$'\n'$1$'\n' __head __rest __left=
    __head=${__t%%$'\n'EOF$'\n'*}
    __head=${__head#$'\n'}
    __rest=${__t#*$'\n'EOF$'\n'}
    exec {__mlgym_fd1}>&1 {__mlgym_fd2}>&2 >"$__MLGYM_TMPDIR/eof" 2>&1
    __mlgym_eof=1
    if [[ $__t == $'\nEOF\n'* ]]; then
        /bin/bash -n </dev/null
    else
        /bin/bash -n <<<"$__head"
    fi
    if [[ -n $__rest ]]; then
        __left=${__rest%$'\n'}$'\n'
    fi
    # `$_` in MLGym's leftover is `-n` (the last word of its check command).
    __mlgym_cmd=": -n; ${__left}EOF"$'\n''__mlgym_eof_done $? && eval "$__mlgym_cmd2"'
    # Evaluated one line below the leftover's last line, i.e. where MLGym's run starts.
    __mlgym_cmd2=$'\n'": ///PROCESS-DONE:0:PROCESS-DONE///; $1"
    return 0
}

__mlgym_eof_restore() {
    exec 1>&"$__mlgym_fd1" 2>&"$__mlgym_fd2" {__mlgym_fd1}>&- {__mlgym_fd2}>&-
    __mlgym_eof=0
}

__mlgym_eof_done() {
    local __rc=$1
    __mlgym_eof_restore
    if [[ $__rc != 0 ]]; then
        __mlgym_cat "$__MLGYM_TMPDIR/eof"
        __mlgym_ran=0
        __mlgym_chk=$__rc
        return 1
    fi
    return 0
}

# __mlgym_post NONCE SEQ CODE
__mlgym_post() {
    local __code=$3
    if [[ $__mlgym_eof == 1 ]]; then
        # The leftover never reached its end: an open heredoc swallowed it (MLGym's
        # shell would wait for more input). Show what it printed, minus our own line.
        __mlgym_eof_restore
        __mlgym_cat "$__MLGYM_TMPDIR/eof" | {
            local __t
            IFS= read -r -d '' __t || :
            __t=${__t%%__mlgym_eof_done*}
            printf '%s' "$__t"
        }
        __mlgym_ran=0
        __mlgym_chk=$__code
    fi
    if [[ $__mlgym_ran != 1 ]]; then
        __code="!$__mlgym_chk"
    elif [[ $__mlgym_internal != 1 ]]; then
        export LAST_ACTION="$__mlgym_action"
    fi
    if [[ -n ${__MLGYM_STATE_FILE-} ]]; then
        {
            export -p
            declare -p WINDOW OVERLAP CURRENT_LINE CURRENT_FILE SEARCH_RESULTS SEARCH_FILES \
                SEARCH_INDEX
        } >"$__MLGYM_STATE_FILE" 2>/dev/null
    fi
    printf '\n\036MLGYM:%s:%s:%s\037%s\037%s\036\n' "$1" "$2" "$__code" "$PWD" "$CURRENT_FILE"
}

