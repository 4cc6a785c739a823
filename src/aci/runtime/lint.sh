# ---------------------------------------------------------------------------------------
# Lint server (lintd.py) over two FIFOs
# ---------------------------------------------------------------------------------------
# Requests (one line each, path last so it may contain tabs):
#   B<TAB>path                     lint the file as it is now and remember the result
#   A<TAB>start<TAB>end<TAB>n<TAB>path
#                                  lint again; answer MLGym's `_split_string` output
# Answers: `<count>\n` then <count> lines. The server greets with `READY <pid>` or
# `NOLINT`. It is started in a subshell so `$!`, `jobs` and `wait` never see it.

__mlgym_lint_pid=
__mlgym_lint_ok=
__mlgym_lint_gen=0

__mlgym_lint_alive() {
    [[ -n $__mlgym_lint_pid ]] && kill -0 "$__mlgym_lint_pid" 2>/dev/null
}

# Starts the server if needed (without waiting for it).
__mlgym_lint_start() {
    if [[ $__mlgym_lint_ok == no ]]; then return 1; fi
    if [[ -n $__mlgym_lint_ok ]] && __mlgym_lint_alive; then return 0; fi
    if [[ $__mlgym_lint_ok == starting ]]; then return 0; fi
    local py
    py=$(type -P python3) || {
        __mlgym_lint_ok=no
        return 1
    }
    [[ -r $__MLGYM_LINTD ]] || {
        __mlgym_lint_ok=no
        return 1
    }
    if [[ -n ${__mlgym_lint_in-} ]]; then exec {__mlgym_lint_in}>&- {__mlgym_lint_out}<&-; fi
    __mlgym_lint_gen=$((__mlgym_lint_gen + 1))
    local req=$__MLGYM_TMPDIR/lint.$__mlgym_lint_gen.req res=$__MLGYM_TMPDIR/lint.$__mlgym_lint_gen.res
    rm -f "$req" "$res"
    mkfifo "$req" "$res" 2>/dev/null || {
        __mlgym_lint_ok=no
        return 1
    }
    exec {__mlgym_lint_in}<>"$req" {__mlgym_lint_out}<>"$res"
    (exec "$py" "$__MLGYM_LINTD" <"$req" >"$res" 2>/dev/null {__mlgym_lint_in}>&- {__mlgym_lint_out}<&- &)
    __mlgym_lint_pid=
    __mlgym_lint_ok=starting
    return 0
}

# Reads one line from the server, giving up if it dies -> __mlgym_r.
__mlgym_lint_readline() {
    local i
    for ((i = 0; i < 600; i++)); do
        if IFS= read -r -t 1 -u "$__mlgym_lint_out" __mlgym_r; then return 0; fi
        if [[ -n $__mlgym_lint_pid ]] && ! __mlgym_lint_alive; then break; fi
        if [[ -z $__mlgym_lint_pid && $i -ge 30 ]]; then break; fi
    done
    __mlgym_lint_ok=no-answer
    return 1
}

# Makes sure the server is up and greeted us.
__mlgym_lint_ready() {
    if [[ $__mlgym_lint_ok == ready ]] && __mlgym_lint_alive; then return 0; fi
    if [[ $__mlgym_lint_ok == ready || $__mlgym_lint_ok == no-answer ]]; then
        __mlgym_lint_ok=
    fi
    __mlgym_lint_start || return 1
    if [[ $__mlgym_lint_ok == starting ]]; then
        __mlgym_lint_readline || {
            __mlgym_lint_ok=
            return 1
        }
        if [[ $__mlgym_r == "READY "* ]]; then
            __mlgym_lint_pid=${__mlgym_r#READY }
            __mlgym_lint_ok=ready
        else
            __mlgym_lint_ok=no
            return 1
        fi
    fi
    [[ $__mlgym_lint_ok == ready ]]
}

# Opening a Python file starts the server in the background, ahead of the first edit.
__mlgym_lint_warm() {
    if [[ $1 == *.py && -z $__mlgym_lint_ok ]]; then __mlgym_lint_start || :; fi
}

__mlgym_lint_before() {
    [[ $1 != *$'\n'* ]] || return 1
    __mlgym_lint_ready || return 1
    printf 'B\t%s\n' "$1" >&"$__mlgym_lint_in" || return 1
    __mlgym_lint_readline || return 1
    [[ $__mlgym_r == OK ]]
}

# -> __mlgym_r: the `- CODE message` lines (empty when nothing new).
__mlgym_lint_after() {
    local n i out= line
    __mlgym_r=
    printf 'A\t%s\t%s\t%s\t%s\n' "$2" "$3" "$4" "$1" >&"$__mlgym_lint_in" || return 0
    __mlgym_lint_readline || return 0
    n=$__mlgym_r
    [[ $n =~ ^[0-9]+$ ]] || n=0
    for ((i = 0; i < n; i++)); do
        __mlgym_lint_readline || break
        line=$__mlgym_r
        if ((i > 0)); then out+=$'\n'; fi
        out+=$line
    done
    __mlgym_r=$out
}

# ---------------------------------------------------------------------------------------
# Last: the step protocol's functions cannot be redefined by the agent's commands.
# ---------------------------------------------------------------------------------------
readonly -f __mlgym_pre __mlgym_probe __mlgym_pre_eof __mlgym_eof_restore __mlgym_eof_done \
    __mlgym_guard __mlgym_limits __mlgym_load_state __mlgym_post __mlgym_cat
