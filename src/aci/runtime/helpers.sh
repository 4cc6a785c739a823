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

