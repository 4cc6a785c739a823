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

