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

# The shell's own stdout and stderr (the protocol's pipe): every step ends with them back
# on fd 1 and 2, so an action that closes or redirects them (`exec 1>&-`, `exec >log`)
# only affects itself.
exec {__mlgym_o1}>&1 {__mlgym_o2}>&2

# Builtins an agent's function or alias could shadow; the runtime removes such functions
# after every step (a function named `echo`, `printf` or `cd` would break the protocol
# and the agent's own `echo`). Only builtins: the agent's wrappers of programs stay.
__mlgym_shadowable=(. : '[' alias builtin cd command declare echo enable eval exec exit export
    false getopts hash kill let local mapfile printf pwd read readarray readonly return set
    shift shopt source test trap true type typeset ulimit umask unalias unset wait)
# Builtins that must stay enabled (`enable -n echo` is undone after the step).
__mlgym_needed=(. : '[' builtin cd command declare echo enable eval exec export kill local
    mapfile printf pwd read return set shift shopt source test trap true ulimit unset)

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

# Restores what the runtime relies on after the agent's command and reports, in
# __mlgym_broken, what it cannot restore (the Rust side then starts a fresh shell).
# Runs first in __mlgym_post, before anything an agent's function could shadow: in POSIX
# mode (entered by assigning POSIXLY_CORRECT, which no function can intercept) special
# builtins such as `unset` and `set` are found before functions.
__mlgym_guard() {
    # Assigning a read-only variable abandons the whole input line (the marker would
    # never come), so the variables the protocol assigns (and its functions' locals)
    # are checked before anything is assigned (`${v+...}`: `set -u` is allowed).
    if [[ ${__mlgym_broken+${__mlgym_broken@a}}${__mlgym_bo+${__mlgym_bo@a}}${POSIXLY_CORRECT+${POSIXLY_CORRECT@a}}${IFS+${IFS@a}}${__mlgym_cmd+${__mlgym_cmd@a}}${__mlgym_cmd2+${__mlgym_cmd2@a}}${__mlgym_action+${__mlgym_action@a}}${__mlgym_ran+${__mlgym_ran@a}}${__mlgym_chk+${__mlgym_chk@a}}${__mlgym_eof+${__mlgym_eof@a}}${__mlgym_internal+${__mlgym_internal@a}}${__mlgym_r+${__mlgym_r@a}}${LAST_ACTION+${LAST_ACTION@a}}${CURRENT_FILE+${CURRENT_FILE@a}}${__a+${__a@a}}${__c+${__c@a}}${__code+${__code@a}}${__rc+${__rc@a}}${__t+${__t@a}}${__head+${__head@a}}${__rest+${__rest@a}}${__left+${__left@a}}${__x+${__x@a}}${__e+${__e@a}}${__v+${__v@a}}${__l+${__l@a}}${__n+${__n@a}}${__min+${__min@a}}${__i+${__i@a}}${__f+${__f@a}}${__re+${__re@a}} == *r* ]]; then
        __mlgym_broken_ro=1
        return 0
    fi
    __mlgym_broken=
    if [[ :$SHELLOPTS: == *:posix:* ]]; then
        unset -f "${__mlgym_shadowable[@]}" 2>/dev/null
    else
        __mlgym_bo=$BASHOPTS
        POSIXLY_CORRECT=y
        unset -f "${__mlgym_shadowable[@]}" 2>/dev/null
        unset -v POSIXLY_CORRECT
        # Leaving POSIX mode turns expand_aliases off and inherit_errexit on (without
        # updating BASHOPTS): both are set back as they were.
        if [[ :$__mlgym_bo: == *:expand_aliases:* ]]; then
            shopt -s expand_aliases
        else
            shopt -u expand_aliases
        fi
        if [[ :$__mlgym_bo: == *:inherit_errexit:* ]]; then
            shopt -s inherit_errexit
        else
            shopt -u inherit_errexit
        fi
    fi
    # Enough descriptors for the protocol (here-documents, redirections).
    if ! { : 63</dev/null; } 2>/dev/null; then
        __mlgym_broken="the open-file limit is too low (ulimit -n)"
        return 0
    fi
    if [[ -z ${PATH-} ]]; then
        __mlgym_broken="PATH is unset or empty"
        return 0
    fi
    # `set -e` would end the shell at the next failing command.
    if [[ $- == *e* ]]; then set +e; fi
    if [[ $__mlgym_action == *enable* ]] && ! enable "${__mlgym_needed[@]}" 2>/dev/null; then
        __mlgym_broken="a builtin the shell needs was disabled"
        return 0
    fi
    if shopt -q extdebug; then shopt -u extdebug; fi
    # Read-only names without a value escape the check above; an action that may have
    # declared some gets the full list scanned (the runtime's names all start with `__`).
    if [[ $__mlgym_action == *readonly* || $__mlgym_action == *declare* ||
        $__mlgym_action == *typeset* || $__mlgym_action == *local* ]]; then
        local -a __l=()
        local __x __re='^declare -[a-zA-Z]*r[a-zA-Z]* (__[A-Za-z0-9_]*|CURRENT_[A-Z]+|SEARCH_[A-Z]+|WINDOW|OVERLAP|LAST_ACTION)(=|$)'
        readonly -p >|"$__MLGYM_TMPDIR/ro" 2>/dev/null
        mapfile -t __l 2>/dev/null <"$__MLGYM_TMPDIR/ro"
        for __x in "${__l[@]}"; do
            if [[ $__x =~ $__re ]]; then
                __mlgym_broken="the variable ${BASH_REMATCH[1]} of the runtime was made read-only"
                return 0
            fi
        done
    fi
    if [[ $__mlgym_action == *limit* ]]; then
        __mlgym_limits
    fi
    return 0
}

# Resource limits below what the shell and the runtime need -> __mlgym_broken.
__mlgym_limits() {
    local -a __l=()
    mapfile -t __l 2>/dev/null </proc/$BASHPID/limits || return 0
    local __x __n __min
    for __x in "${__l[@]}"; do
        case $__x in
        "Max processes"*) __min=64 ;;
        "Max file size"*) __min=1048576 ;;
        "Max address space"*) __min=268435456 ;;
        "Max data size"*) __min=268435456 ;;
        "Max stack size"*) __min=262144 ;;
        *) continue ;;
        esac
        __n=${__x:26:21}
        __n=${__n// /}
        if [[ $__n =~ ^[0-9]+$ ]] && ((__n < __min)); then
            __mlgym_broken="a resource limit is too low (${__x%%  *})"
            return 0
        fi
    done
}

# __mlgym_load_state FILE: the state a previous shell saved, as text to `eval` at the top
# level -> __mlgym_r. Read-only attributes are dropped, so a variable the agent made
# read-only cannot break the new shell too.
__mlgym_load_state() {
    local -a __l=()
    mapfile -t __l 2>/dev/null <"$1" || :
    local __i __f __re='^declare -(-|[a-zA-Z]+) (.*)$'
    for ((__i = 0; __i < ${#__l[@]}; __i++)); do
        if [[ ${__l[__i]} =~ $__re && ${BASH_REMATCH[1]} == *r* ]]; then
            __f=${BASH_REMATCH[1]//r/}
            __l[__i]="declare -${__f:--} ${BASH_REMATCH[2]}"
        fi
    done
    __mlgym_r=
    if ((${#__l[@]} > 0)); then printf -v __mlgym_r '%s\n' "${__l[@]}"; fi
}

# __mlgym_post NONCE SEQ CODE
__mlgym_post() {
    __mlgym_broken_ro=0
    __mlgym_guard
    if [[ $__mlgym_broken_ro == 1 ]]; then
        # Nothing may be assigned: report and let the Rust side start a new shell.
        printf '\n\036MLGYM:%s:%s:%s\037%s\037%s\037%s\036\n' "$1" "$2" "$3" "$PWD" \
            "${CURRENT_FILE-}" "a variable the runtime uses was made read-only" >&"$__mlgym_o1"
        return 0
    fi
    if [[ $__mlgym_broken != *ulimit\ -n* ]]; then
        exec 1>&"$__mlgym_o1" 2>&"$__mlgym_o2"
    fi
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
    # A broken shell's state is not saved: the new shell gets the last good one.
    if [[ -n ${__MLGYM_STATE_FILE-} && -z $__mlgym_broken ]]; then
        {
            export -p
            declare -p WINDOW OVERLAP CURRENT_LINE CURRENT_FILE SEARCH_RESULTS SEARCH_FILES \
                SEARCH_INDEX
        } >|"$__MLGYM_STATE_FILE" 2>/dev/null
    fi
    printf '\n\036MLGYM:%s:%s:%s\037%s\037%s\037%s\036\n' "$1" "$2" "$__code" "$PWD" \
        "$CURRENT_FILE" "$__mlgym_broken"
}

