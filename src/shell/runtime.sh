# mlgym-rs shell runtime (pure bash 5.x).
#
# Sourced once into every episode's shell (docs/internals/shell-protocol.md). It provides
#   * the step helpers `__mlgym_pre` / `__mlgym_post` of the step protocol, including
#     MLGym's `bash -n` syntax check and its `EOF` quirk;
#   * MLGym's interface commands (`open`, `goto`, `scroll_up`, `scroll_down`, `create`,
#     `edit`, `insert`, `search_dir`, `search_file`, `find_file`, `validate`, `submit`)
#     with MLGym's observable behaviour and messages (reference spec, section 2).
#
# This is an independent implementation written from the behaviour specification; it
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

# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------

# Prints a file's bytes (NUL bytes dropped) without forking.
__mlgym_cat() {
    local -a __c=()
    mapfile -d '' __c 2>/dev/null <"$1" || :
    if [[ ${#__c[@]} -gt 0 ]]; then printf '%s' "${__c[@]}"; fi
}

# A number as MLGym's jq arithmetic sees it, doubled: "7.5" -> 15, "-3" -> -6.
__mlgym_h() {
    local v=$1 neg=0 ip fp=
    if [[ $v == -* ]]; then neg=1; v=${v#-}; fi
    ip=${v%%.*}
    if [[ $v == *.* ]]; then fp=${v#*.}; fi
    [[ $ip =~ ^[0-9]+$ ]] || ip=0
    ip=$((10#$ip * 2))
    if [[ $fp == [5-9]* ]]; then ip=$((ip + 1)); fi
    if [[ $neg == 1 ]]; then ip=$((-ip)); fi
    __mlgym_r=$ip
}

# The inverse: a doubled integer printed the way jq prints the number.
__mlgym_hs() {
    local h=$1 s=
    if ((h < 0)); then s=-; h=$((-h)); fi
    if ((h % 2)); then
        __mlgym_r="$s$((h / 2)).5"
    else
        __mlgym_r="$s$((h / 2))"
        if [[ $__mlgym_r == -0 ]]; then __mlgym_r=0; fi
    fi
}

# An integer shell variable's value (WINDOW, OVERLAP), jq-like for the usual cases.
__mlgym_int() {
    local v=$1
    if [[ $v =~ ^-?[0-9]+$ ]]; then
        if [[ $v == -* ]]; then __mlgym_r=$((-10#${v#-})); else __mlgym_r=$((10#$v)); fi
    else
        __mlgym_h "$v"
        __mlgym_r=$((__mlgym_r / 2))
    fi
}

# Loads a file: __mlgym_n = its line count as `awk 'END {print NR}'` gives it, and makes
# sure the numbered view (__mlgym_number) can be built or reused. Huge files are only
# counted (with awk) and printed with awk.
__mlgym_count() {
    __mlgym_L=()
    __mlgym_L_file=$1
    __mlgym_raw=
    mapfile -O 1 -n $((__mlgym_big_lines + 1)) __mlgym_L 2>/dev/null <"$1" || :
    __mlgym_n=${#__mlgym_L[@]}
    if ((__mlgym_n > __mlgym_big_lines)); then
        __mlgym_L=()
        __mlgym_L_file=
        __mlgym_n=$(awk 'END {print NR}' "$1" 2>/dev/null)
        [[ $__mlgym_n =~ ^[0-9]+$ ]] || __mlgym_n=0
        return 0
    fi
    # The whole content in one string (mapfile reads regular files in blocks; a second
    # element means the file holds a NUL byte).
    local -a c=()
    mapfile -d '' -n 2 c 2>/dev/null <"$1" || :
    __mlgym_raw=${c[0]-}
    __mlgym_nul=$((${#c[@]} > 1))
}

# `realpath` without forking when no path component is a symlink -> __mlgym_r.
__mlgym_realpath() {
    local p=$1 out= c
    local -a parts=()
    [[ $p == /* ]] || p=$PWD/$p
    local IFS=/
    local -
    set -f
    parts=($p)
    for c in "${parts[@]}"; do
        case $c in
        '' | .) continue ;;
        ..)
            out=${out%/*}
            continue
            ;;
        esac
        out+=/$c
        if [[ -L $out ]]; then
            __mlgym_r=$(command realpath -- "$1" 2>/dev/null)
            return 0
        fi
    done
    __mlgym_r=${out:-/}
}

# MLGym's test: `file -b --mime-type "$1" | grep -qE 'image'`. Plain text that cannot be
# an image is recognised without forking `file`.
__mlgym_is_image() {
    local LC_ALL=C __h=
    IFS= read -r -N 64 -d '' __h 2>/dev/null <"$1" || :
    if [[ -z $__h ]]; then return 1; fi
    if [[ $__h =~ ^[[:print:][:space:]]*$ ]]; then
        case $__h in
        [[:space:]]*'<'* | '<'* | P[1-7][[:space:]]* | *XPM* | '#define'* | SIMPLE*) ;;
        *) return 1 ;;
        esac
    fi
    local __m
    __m=$(file -b --mime-type -- "$1" 2>/dev/null) || return 1
    [[ $__m == *image* ]]
}

# Size in bytes, compared with 20000 (MLGym: `wc -c < "$1"`; only `open f N` needs it).
__mlgym_larger_than_20000() {
    local __s
    __s=$(wc -c 2>/dev/null <"$1") || return 1
    __s=${__s//[!0-9]/}
    [[ -n $__s ]] && ((__s > 20000))
}

# The numbered view of the last file printed, kept while its content is unchanged:
# __mlgym_NL[k] = "<k>:<line k>\n"; __mlgym_nc_nul says whether the file holds a NUL
# byte (then MLGym's `grep -n $` prints only its binary-file notice).
__mlgym_nc_file=
__mlgym_nc_raw=
__mlgym_nc_nul=0
__mlgym_nc_all=
__mlgym_NL=()
__mlgym_nul=0
__mlgym_raw=

# Makes __mlgym_NL match the content just loaded by __mlgym_count for file $1.
__mlgym_number() {
    if [[ $1 == "$__mlgym_nc_file" && $__mlgym_nul == "$__mlgym_nc_nul" ]] &&
        [ "$__mlgym_raw" = "$__mlgym_nc_raw" ]; then
        return 0
    fi
    local IFS=
    # "${w[*]@k}" joins index, value, index, value...: with the values prefixed by ":"
    # that is the `grep -n` text, built without a per-line loop.
    local -a w=([0]=)
    w+=("${__mlgym_L[@]/#/:}")
    local s="${w[*]@k}"
    s=${s#0}
    if [[ -n $s && $s != *$'\n' ]]; then s+=$'\n'; fi
    printf '%s' "$s" >"$__MLGYM_TMPDIR/nl"
    __mlgym_NL=()
    mapfile -O 1 __mlgym_NL 2>/dev/null <"$__MLGYM_TMPDIR/nl" || :
    __mlgym_nc_all=$s
    __mlgym_nc_nul=$__mlgym_nul
    __mlgym_nc_file=$1
    __mlgym_nc_raw=$__mlgym_raw
}

# Prints lines $2..$3 of file $1 as `<n>:<line>` (what MLGym's `grep -n $ | head | tail`
# shows), or grep's notice for binary data.
__mlgym_lines() {
    local f=$1 a=$2 b=$3
    if ((__mlgym_n > __mlgym_big_lines)); then
        awk -v a="$a" -v b="$b" 'NR > b { exit } NR >= a { print NR ":" $0 }' "$f" 2>/dev/null
        return 0
    fi
    if [[ $__mlgym_L_file != "$f" ]]; then __mlgym_count "$f"; fi
    __mlgym_number "$f"
    if [[ $__mlgym_nc_nul == 1 ]]; then
        echo "grep: (standard input): binary file matches"
        return 0
    fi
    if ((b < a)); then return 0; fi
    if ((a == 1 && b >= __mlgym_n)); then
        printf '%s' "$__mlgym_nc_all"
        return 0
    fi
    local IFS=
    printf '%s' "${__mlgym_NL[*]:a:b-a+1}"
}

# MLGym's `_constrain_line` (CURRENT_FILE is set; $1 = its line count).
__mlgym_constrain() {
    local total=$1 H W half
    __mlgym_h "$CURRENT_LINE"
    H=$__mlgym_r
    __mlgym_int "$WINDOW"
    W=$__mlgym_r
    half=$((W >= 0 ? W / 2 : -((-W + 1) / 2)))
    if ((H > 2 * (total - half))); then H=$((2 * (total - half))); fi
    if ((H < 2 * half)); then H=$((2 * half)); fi
    __mlgym_hs "$H"
    export CURRENT_LINE=$__mlgym_r
}

# MLGym's `_print` ($1 = the line count of CURRENT_FILE, optional).
__mlgym_print() {
    local f=$CURRENT_FILE total=${1-} H W a2 b2 h2 above below headn start end
    if [[ -z $total ]]; then
        __mlgym_count "$f"
        total=$__mlgym_n
    fi
    __mlgym_n=$total
    __mlgym_realpath "$f"
    local rp=$__mlgym_r
    __mlgym_h "$CURRENT_LINE"
    H=$__mlgym_r
    __mlgym_int "$WINDOW"
    W=$__mlgym_r
    a2=$((H - W))
    if ((a2 < 0)); then a2=0; fi
    b2=$((2 * total - H - W))
    if ((b2 < 0)); then b2=0; fi
    h2=$((H + W))
    if ((h2 < W)); then h2=$W; fi
    above=$((a2 / 2))
    below=$(((b2 + 1) / 2))
    headn=$((h2 >= 0 ? h2 / 2 : 0))
    printf '[File: %s (%s lines total)]\n' "$rp" "$total"
    if ((above > 0)); then printf '(%s more lines above)\n' "$above"; fi
    end=$((headn < total ? headn : total))
    if ((W < 0)); then W=$((-W)); fi
    start=$((end - W + 1))
    if ((start < 1)); then start=1; fi
    if ((W > 0 && end >= start)) || ((total > 0)); then
        __mlgym_lines "$f" "$start" "$((W > 0 ? end : start - 1))"
    fi
    if ((below > 0)); then printf '(%s more lines below)\n' "$below"; fi
    return 0
}

# CURRENT_LINE = floor(max(n + WINDOW/2 - floor(WINDOW/6), 1)) (open with n, goto).
__mlgym_target_line() {
    local n=$1 W off v
    __mlgym_int "$WINDOW"
    W=$__mlgym_r
    off=$((W >= 0 ? W / 6 : -((-W + 5) / 6)))
    v=$((2 * n + W - 2 * off))
    if ((v < 2)); then v=2; fi
    __mlgym_r=$((v >= 0 ? v / 2 : -((-v + 1) / 2)))
}

# The error bash prints when MLGym's own function hits it.
__mlgym_bash_error() { # FILE LINE MESSAGE
    printf '%s: line %s: %s\n' "$1" "$2" "$3"
}

# Would MLGym's `$((x))` fail on this decimal string (a leading 0 makes it octal)?
__mlgym_bad_octal() {
    [[ $1 == 0* && $1 == *[89]* ]]
}

# `$(echo $1)`: word splitting and globbing, echo's option words dropped, joined by spaces.
__mlgym_echo_words() {
    local -a __w=()
    __w=($1)
    while [[ ${#__w[@]} -gt 1 && ${__w[0]} =~ ^-[neE]+$ ]]; do __w=("${__w[@]:1}"); done
    if [[ ${#__w[@]} == 1 && ${__w[0]} =~ ^-[neE]+$ ]]; then __w=(); fi
    local IFS=' '
    __mlgym_r="${__w[*]}"
}

# ---------------------------------------------------------------------------------------
# Interface commands
# ---------------------------------------------------------------------------------------

open() {
    if [ -z "${1-}" ]; then
        echo 'Usage: open "<file>"'
        return 0
    fi
    if [ -f "$1" ]; then
        if __mlgym_is_image "$1"; then
            echo "Error: $1 is an image file. Current environment does not support image viewing."
            return 0
        fi
    elif [ -d "$1" ]; then
        echo "Error: $1 is a directory. You can only open files. Use cd or ls to navigate directories."
        return 0
    else
        echo "File $1 not found"
        return 0
    fi
    local line total
    if [ -n "${2-}" ]; then
        if ! [[ $2 =~ ^[0-9]+$ ]]; then
            echo 'Usage: open "<file>" [<line_number>]'
            echo "Error: <line_number> must be a number"
            return 0
        fi
        if __mlgym_larger_than_20000 "$1"; then
            echo "The file is larger than 20000 characters, please use 'head -n NUM_LINES' to open it"
            return 0
        fi
        __mlgym_count "$1"
        total=$__mlgym_n
        local n=$((10#$2))
        if ((n > total)); then
            echo "Warning: <line_number> ($2) is greater than the number of lines in the file ($total)"
            echo "Warning: Setting <line_number> to $total"
            line=$total
        elif ((n < 1)); then
            echo "Warning: <line_number> ($2) is less than 1"
            echo "Warning: Setting <line_number> to 1"
            line=1
        else
            __mlgym_target_line "$n"
            line=$__mlgym_r
        fi
    else
        __mlgym_int "$WINDOW"
        __mlgym_hs "$__mlgym_r"
        line=$__mlgym_r
        __mlgym_count "$1"
        total=$__mlgym_n
    fi
    __mlgym_realpath "$1"
    export CURRENT_FILE=$__mlgym_r
    export CURRENT_LINE=$line
    __mlgym_constrain "$total"
    __mlgym_print "$total"
    __mlgym_lint_warm "$CURRENT_FILE"
    return 0
}

goto() {
    if [ $# -gt 1 ]; then
        echo "goto allows only one line number at a time."
        return 0
    fi
    if [ -z "${CURRENT_FILE-}" ]; then
        echo "No file open. Use the open command first."
        return 0
    fi
    if [ -z "${1-}" ]; then
        echo "Usage: goto <line>"
        return 0
    fi
    if ! [[ $1 =~ ^[0-9]+$ ]]; then
        echo "Usage: goto <line>"
        echo "Error: <line> must be a number"
        return 0
    fi
    __mlgym_count "$CURRENT_FILE"
    local total=$__mlgym_n
    if ((10#$1 > total)); then
        echo "Error: <line> must be less than or equal to $total"
        return 0
    fi
    __mlgym_target_line "$((10#$1))"
    export CURRENT_LINE=$__mlgym_r
    __mlgym_constrain "$total"
    __mlgym_print "$total"
    return 0
}

__mlgym_scroll_warning() {
    export SCROLL_COUNT=${SCROLL_COUNT:-0}
    if [ "${LAST_ACTION-}" != "scroll_up" ] && [ "${LAST_ACTION-}" != "scroll_down" ]; then
        export SCROLL_COUNT=0
    fi
    export SCROLL_COUNT=$((SCROLL_COUNT + 1))
    local lim=${WARN_AFTER_SCROLLING_TIMES:-3}
    [[ $lim =~ ^-?[0-9]+$ ]] || lim=3
    if ((SCROLL_COUNT >= lim)); then
        echo ""
        echo "WARNING: Scrolling many times in a row is very inefficient."
        echo "If you know what you are looking for, use \`search_file <pattern>\` instead."
        echo ""
    fi
    return 0
}

__mlgym_scroll() { # +1 down, -1 up
    if [ -z "${CURRENT_FILE-}" ]; then
        echo "No file open. Use the open command first."
        return 0
    fi
    local W O H
    __mlgym_int "$WINDOW"
    W=$__mlgym_r
    __mlgym_int "$OVERLAP"
    O=$__mlgym_r
    __mlgym_h "$CURRENT_LINE"
    H=$((__mlgym_r + $1 * 2 * (W - O)))
    __mlgym_hs "$H"
    export CURRENT_LINE=$__mlgym_r
    __mlgym_count "$CURRENT_FILE"
    local total=$__mlgym_n
    __mlgym_constrain "$total"
    __mlgym_print "$total"
    __mlgym_scroll_warning
    return 0
}

scroll_down() { __mlgym_scroll 1; }
scroll_up() { __mlgym_scroll -1; }

create() {
    if [ -z "${1-}" ]; then
        echo "Usage: create <filename>"
        return 0
    fi
    if [ -e "$1" ]; then
        echo "Error: File '$1' already exists."
        open "$1"
        return 0
    fi
    if ! { printf "\n" >"$1"; } 2>"$__MLGYM_TMPDIR/create"; then
        local __e=
        IFS= read -r __e 2>/dev/null <"$__MLGYM_TMPDIR/create" || :
        # bash's message is "<where>: line <n>: <path>: <reason>"; MLGym's names its file.
        if [[ $__e =~ ^.*:\ line\ [0-9]+:\ (.*)$ ]]; then __e=${BASH_REMATCH[1]}; fi
        __mlgym_bash_error "$__mlgym_defaults_sh" "$__mlgym_ln_create" "$__e"
    fi
    open "$1"
}

# MLGym copies the file to `backup_<name>` before editing (and removes the copy at the
# end). The copy is written from memory unless the file holds NUL bytes.
__mlgym_backup() { # FILE BACKUP
    __mlgym_bk=
    __mlgym_bk_mem=0
    local -a c=()
    mapfile -d '' -n 2 c 2>/dev/null <"$1" || :
    if ((${#c[@]} <= 1)); then
        __mlgym_bk=${c[0]-}
        __mlgym_bk_mem=1
        { printf '%s' "$__mlgym_bk" >"$2"; } 2>/dev/null
    else
        cp "$1" "$2" 2>/dev/null
    fi
}

__mlgym_restore() { # BACKUP FILE
    if [[ $__mlgym_bk_mem == 1 ]]; then
        printf '%s' "$__mlgym_bk" >|"$2"
    else
        cp "$1" "$2"
    fi
}

# Reads the heredoc body the way MLGym's `while IFS= read -r line` loop does
# (an unterminated last line is dropped) -> __mlgym_body, __mlgym_body_n.
__mlgym_read_body() {
    __mlgym_body=()
    mapfile __mlgym_body || :
    local n=${#__mlgym_body[@]}
    if ((n > 0)) && [[ ${__mlgym_body[n - 1]} != *$'\n' ]]; then
        unset '__mlgym_body[n-1]'
        n=$((n - 1))
    fi
    if ((n > 0)); then __mlgym_body=("${__mlgym_body[@]%$'\n'}"); fi
    __mlgym_body_n=$n
}

# MLGym's lint-failure views: two windows of the edited and the restored file.
__mlgym_lint_failure() { # KIND(edit|insert) ERRORS BACKUP a b k
    local kind=$1 errors=$2 backup=$3 a=$4 b=$5 k=$6
    local orig_line=$CURRENT_LINE orig_window=$WINDOW
    local D=-------------------------------------------------
    if [[ $kind == edit ]]; then
        echo "Your proposed edit has introduced new syntax error(s). Please read this error message carefully and then retry editing the file."
    else
        echo "Your proposed insertion has introduced new syntax error(s). Please read this error message carefully and then retry inserting into the file."
    fi
    echo ""
    echo "ERRORS:"
    echo "$errors"
    echo ""
    __mlgym_count "$CURRENT_FILE"
    if [[ $kind == edit ]]; then
        export CURRENT_LINE=$(((k / 2) + a))
        export WINDOW=$((k + 10))
        echo "This is how your edit would have looked if applied"
    else
        export CURRENT_LINE=$((a + (k / 2)))
        export WINDOW=$((k + 10))
        echo "This is how your insertion would have looked if applied"
    fi
    echo "$D"
    __mlgym_constrain "$__mlgym_n"
    __mlgym_print "$__mlgym_n"
    echo "$D"
    echo ""
    __mlgym_restore "$backup" "$CURRENT_FILE"
    __mlgym_count "$CURRENT_FILE"
    if [[ $kind == edit ]]; then
        export CURRENT_LINE=$((((b - a + 1) / 2) + a))
        export WINDOW=$((b - a + 10))
        echo "This is the original code before your edit"
    else
        export CURRENT_LINE=$a
        export WINDOW=10
        echo "This is the original code before your insertion"
    fi
    echo "$D"
    __mlgym_constrain "$__mlgym_n"
    __mlgym_print "$__mlgym_n"
    echo "$D"
    export CURRENT_LINE=$orig_line
    export WINDOW=$orig_window
    if [[ $kind == edit ]]; then
        echo "Your changes have NOT been applied. Please fix your edit command and try again."
        echo "You either need to 1) Specify the correct start/end line arguments or 2) Correct your edit code."
        echo "DO NOT re-run the same failed edit command. Running it again will lead to the same error."
    else
        echo "Your changes have NOT been applied. Please fix your insert command and try again."
        echo "You either need to 1) Specify the correct line number argument or 2) Correct your insertion code."
        echo "DO NOT re-run the same failed insert command. Running it again will lead to the same error."
    fi
}

edit() {
    if [ -z "${CURRENT_FILE-}" ]; then
        echo 'No file open. Use the `open` command first.'
        return 0
    fi
    __mlgym_echo_words "${1-}:"
    local s=$__mlgym_r
    local start_line=${s%%:*} end_line=${s#*:}
    end_line=${end_line%%:*}
    if [ -z "$start_line" ] || [ -z "$end_line" ]; then
        echo "Usage: edit <start_line>:<end_line>"
        return 0
    fi
    local re='^[0-9]+$'
    if ! [[ $start_line =~ $re ]]; then
        echo "Usage: edit <start_line>:<end_line>"
        echo "Error: start_line must be a number"
        return 0
    fi
    if ! [[ $end_line =~ $re ]]; then
        echo "Usage: edit <start_line>:<end_line>"
        echo "Error: end_line must be a number"
        return 0
    fi
    local lint=0
    if [[ $CURRENT_FILE == *.py ]] && __mlgym_lint_before "$CURRENT_FILE"; then lint=1; fi
    # MLGym does this arithmetic with `$((...))`, so a leading 0 means octal.
    if __mlgym_bad_octal "$start_line"; then
        __mlgym_bash_error "$__mlgym_edit_sh" "$__mlgym_ln_edit_arith" \
            "$start_line: value too great for base (error token is \"$start_line\")"
        return 1
    fi
    if __mlgym_bad_octal "$end_line"; then
        __mlgym_bash_error "$__mlgym_edit_sh" "$__mlgym_ln_edit_end_arith" \
            "$end_line: value too great for base (error token is \"$end_line\")"
        return 1
    fi
    start_line=$((start_line - 1))
    end_line=$((end_line))
    __mlgym_read_body
    local line_count=$__mlgym_body_n
    local backup_file=${CURRENT_FILE%/*}/backup_${CURRENT_FILE##*/}
    if [ ! -w "$CURRENT_FILE" ]; then
        echo "Error: You cannot edit read-only file $CURRENT_FILE"
        return 1
    fi
    if ! __mlgym_backup "$CURRENT_FILE" "$backup_file"; then
        echo "Error: You cannot edit read-only file $CURRENT_FILE"
        return 1
    fi
    local -a lines=()
    mapfile -t lines 2>/dev/null <"$CURRENT_FILE"
    if ((start_line < 0 && ${#lines[@]} > 0)); then
        # MLGym's `"${lines[@]:0:$start_line}"` fails here; its backup file stays behind.
        __mlgym_bash_error "$__mlgym_edit_sh" "$__mlgym_ln_edit_slice" \
            "\$start_line: substring expression < 0"
        return 1
    fi
    local -a new_lines=()
    if ((start_line >= 0)); then
        new_lines=("${lines[@]:0:start_line}" "${__mlgym_body[@]}" "${lines[@]:end_line}")
    else
        new_lines=("${__mlgym_body[@]}")
    fi
    printf "%s\n" "${new_lines[@]}" >|"$CURRENT_FILE"
    local lint_output=
    if [[ $lint == 1 ]]; then
        __mlgym_lint_after "$CURRENT_FILE" "$((start_line + 1))" "$end_line" "$line_count"
        lint_output=$__mlgym_r
    fi
    if [ -z "$lint_output" ]; then
        export CURRENT_LINE=$start_line
        __mlgym_count "$CURRENT_FILE"
        __mlgym_constrain "$__mlgym_n"
        __mlgym_print "$__mlgym_n"
        echo "File updated. Please review the changes and make sure they are correct (correct indentation, no duplicate lines, etc). Edit the file again if necessary."
    else
        __mlgym_lint_failure edit "$lint_output" "$backup_file" "$start_line" "$end_line" "$line_count"
    fi
    rm -f "$backup_file"
    return 0
}

insert() {
    if [ -z "${CURRENT_FILE-}" ]; then
        echo 'No file open. Use the `open` command first.'
        return 0
    fi
    __mlgym_echo_words "${1-}"
    local line_number=$__mlgym_r
    if [ -z "$line_number" ]; then
        echo "Usage: insert <line_number>"
        return 0
    fi
    local re='^[0-9]+$'
    if ! [[ $line_number =~ $re ]]; then
        echo "Usage: insert <line_number>"
        echo "Error: line_number must be a number"
        return 0
    fi
    local lint=0
    if [[ $CURRENT_FILE == *.py ]] && __mlgym_lint_before "$CURRENT_FILE"; then lint=1; fi
    if __mlgym_bad_octal "$line_number"; then
        __mlgym_bash_error "$__mlgym_insert_sh" "$__mlgym_ln_insert_arith" \
            "$line_number: value too great for base (error token is \"$line_number\")"
        return 1
    fi
    local insert_after=$((line_number))
    __mlgym_read_body
    local line_count=$__mlgym_body_n
    local backup_file=${CURRENT_FILE%/*}/backup_${CURRENT_FILE##*/}
    if [ ! -w "$CURRENT_FILE" ]; then
        echo "Error: You cannot edit read-only file $CURRENT_FILE"
        return 1
    fi
    if ! __mlgym_backup "$CURRENT_FILE" "$backup_file"; then
        echo "Error: You cannot edit read-only file $CURRENT_FILE"
        return 1
    fi
    local -a lines=()
    mapfile -t lines 2>/dev/null <"$CURRENT_FILE"
    local -a new_lines=("${lines[@]:0:insert_after}" "${__mlgym_body[@]}" "${lines[@]:insert_after}")
    printf "%s\n" "${new_lines[@]}" >|"$CURRENT_FILE"
    local lint_output=
    if [[ $lint == 1 ]]; then
        __mlgym_lint_after "$CURRENT_FILE" "$((insert_after + 1))" "$((insert_after + line_count))" "$line_count"
        lint_output=$__mlgym_r
    fi
    if [ -z "$lint_output" ]; then
        export CURRENT_LINE=$((insert_after + 1))
        __mlgym_count "$CURRENT_FILE"
        __mlgym_constrain "$__mlgym_n"
        __mlgym_print "$__mlgym_n"
        echo "File updated. Please review the changes and make sure they are correct (correct indentation, no duplicate lines, etc). Edit the file again if necessary."
    else
        __mlgym_lint_failure insert "$lint_output" "$backup_file" "$insert_after" 0 "$line_count"
    fi
    rm -f "$backup_file"
    return 0
}

# The `<term> [<dir>]` arguments of search_dir and find_file: sets __mlgym_a1 and
# __mlgym_dir, or prints MLGym's message ($1 is the usage line) and returns 1.
__mlgym_term_and_dir() {
    local usage=$1
    shift
    if [ $# -eq 1 ]; then
        __mlgym_a1=$1 __mlgym_dir=./
    elif [ $# -eq 2 ]; then
        __mlgym_a1=$1
        if [ -d "$2" ]; then
            __mlgym_dir=$2
        else
            echo "Directory $2 not found"
            return 1
        fi
    else
        echo "$usage"
        return 1
    fi
}

search_dir() {
    local search_term dir
    __mlgym_term_and_dir "Usage: search_dir <search_term> [<dir>]" "$@" || return 0
    search_term=$__mlgym_a1 dir=$__mlgym_dir
    __mlgym_realpath "$dir"
    dir=$__mlgym_r
    # Matching lines per file, as MLGym counts them with `grep -nIH | cut -d: -f1 | sort
    # | uniq -c`: keyed by the name up to its first colon, sorted bytewise.
    find "$dir" -type f ! -path '*/.*' -exec grep -cIH -- "$search_term" {} + |
        awk '{
            if (!match($0, /:[0-9]+$/)) next
            c = substr($0, RSTART + 1) + 0
            if (c == 0) next
            k = substr($0, 1, RSTART - 1)
            i = index(k, ":")
            if (i) k = substr(k, 1, i - 1)
            n[k] += c
        }
        END { for (k in n) printf "%s\001%d\n", k, n[k] }' |
        LC_ALL=C sort -t $'\001' -k1,1 >"$__MLGYM_TMPDIR/sd" || :
    local -a __m=()
    mapfile -t __m 2>/dev/null <"$__MLGYM_TMPDIR/sd"
    local num_files=${#__m[@]}
    if ((num_files == 0)); then
        echo "No matches found for \"$search_term\" in $dir"
        return 0
    fi
    if ((num_files > 100)); then
        echo "More than $num_files files matched for \"$search_term\" in $dir. Please narrow your search."
        return 0
    fi
    local line name total=0 out=
    for line in "${__m[@]}"; do
        total=$((total + ${line##*$'\001'}))
        # awk's `$2` in MLGym's formatting: the name up to its first blank.
        name=${line%$'\001'*}
        name=${name#"${name%%[![:blank:]]*}"}
        out+="${name%%[[:blank:]]*} (${line##*$'\001'} matches)"$'\n'
    done
    echo "Found $total matches for \"$search_term\" in $dir:"
    printf '%s' "$out"
    echo "End of matches for \"$search_term\" in $dir"
    return 0
}

search_file() {
    if [ -z "${1-}" ]; then
        echo "Usage: search_file <search_term> [<file>]"
        return 0
    fi
    local file
    if [ -n "${2-}" ]; then
        if [ -f "$2" ]; then
            file=$2
        else
            echo "Usage: search_file <search_term> [<file>]"
            echo "Error: File name $2 not found. Please provide a valid file name."
            return 0
        fi
    else
        if [ -z "${CURRENT_FILE-}" ]; then
            echo "No file open. Use the open command first."
            return 0
        fi
        file=$CURRENT_FILE
    fi
    local search_term=$1
    __mlgym_realpath "$file"
    file=$__mlgym_r
    grep -n -- "$search_term" "$file" >"$__MLGYM_TMPDIR/sf" || :
    local -a __m=()
    mapfile -t __m 2>/dev/null <"$__MLGYM_TMPDIR/sf"
    # `$(...)` drops trailing empty lines; a match line is never empty, so count them.
    if ((${#__m[@]} == 0)); then
        echo "No matches found for \"$search_term\" in $file"
        return 0
    fi
    echo "Found ${#__m[@]} matches for \"$search_term\" in $file:"
    local m prev=
    for m in "${__m[@]}"; do
        if [[ ${m%%:*} == "$prev" ]]; then continue; fi
        prev=${m%%:*}
        printf 'Line %s:%s\n' "$prev" "${m#*:}"
    done
    echo "End of matches for \"$search_term\" in $file"
    return 0
}

find_file() {
    local file_name dir
    __mlgym_term_and_dir "Usage: find_file <file_name> [<dir>]" "$@" || return 0
    file_name=$__mlgym_a1 dir=$__mlgym_dir
    __mlgym_realpath "$dir"
    dir=$__mlgym_r
    find "$dir" -type f -name "$file_name" >"$__MLGYM_TMPDIR/ff" || :
    local -a __m=()
    mapfile -t __m 2>/dev/null <"$__MLGYM_TMPDIR/ff"
    # `$(...)` strips trailing newlines: trailing empty entries vanish.
    while ((${#__m[@]} > 0)) && [[ -z ${__m[${#__m[@]} - 1]} ]]; do unset '__m[${#__m[@]}-1]'; done
    if ((${#__m[@]} == 0)); then
        echo "No matches found for \"$file_name\" in $dir"
        return 0
    fi
    echo "Found ${#__m[@]} matches for \"$file_name\" in $dir:"
    printf '%s\n' "${__m[@]}"
    return 0
}

validate() {
    echo "<<VALIDATION||"
    echo "validating file"
    echo "||VALIDATION>>"
}

submit() {
    echo "<<SUBMISSION||"
    echo "submitting file"
    echo "||SUBMISSION>>"
}

# MLGym's default state command, for an agent that calls it.
state() {
    if [ -z "${CURRENT_FILE-}" ]; then
        echo '{"open_file": "n/a", "working_dir": "'"$PWD"'"}'
    else
        __mlgym_realpath "$CURRENT_FILE"
        echo '{"open_file": "'"$__mlgym_r"'", "working_dir": "'"$PWD"'"}'
    fi
}

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
