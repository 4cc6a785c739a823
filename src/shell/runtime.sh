__mlgym_pre() {
  IFS= read -r -d '' __mlgym_cmd
  __mlgym_cmd=${__mlgym_cmd%$'\n'}
  __mlgym_ran=1
}
__mlgym_post() {
  local code=$3
  export -p > "$__MLGYM_STATE_FILE" 2>/dev/null
  printf '\n\036MLGYM:%s:%s:%s\037%s\037%s\036\n' "$1" "$2" "$code" "$PWD" "$CURRENT_FILE"
}
validate() { printf '<<VALIDATION||\nvalidating file\n||VALIDATION>>\n'; }
submit() { printf '<<SUBMISSION||\nsubmitting file\n||SUBMISSION>>\n'; }
