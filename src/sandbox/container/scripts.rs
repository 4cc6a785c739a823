//! Small root scripts run inside containers. They need only bash and /proc.

/// `$1` = uid of the agent, `$2` = pid to spare (0: none). Stops, then kills, every
/// process of that uid (daemonised ones included); prints how many it killed.
pub const KILL_AGENT_PROCESSES_SH: &str = r#"uid=$1 keep=$2 pids=()
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  [[ $p == "$keep" || $p == $$ ]] && continue
  u=
  while read -r k v _; do [[ $k == Uid: ]] && { u=$v; break; }; done < "$d/status" 2>/dev/null
  [[ $u == "$uid" ]] && pids+=("$p")
done
((${#pids[@]})) && { kill -STOP "${pids[@]}"; kill -KILL "${pids[@]}"; } 2>/dev/null
echo ${#pids[@]}"#;

/// `$1` = pid: stops the whole tree below it (so nothing forks meanwhile), then kills it.
pub const KILL_TREE_SH: &str = r#"tree() { local c; kill -STOP "$1" 2>/dev/null; echo "$1"
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }
pids=$(tree "$1"); kill -KILL $pids 2>/dev/null; true"#;

/// Set-up after start: the grading root only root can enter, the shell's state folder
/// on tmpfs; prints the agent's uid and gid and whether `setpriv` exists (1 or 0).
pub const SETUP_SH: &str = r#"set -e
mkdir -p /run/mlgym-grade && chmod 700 /run/mlgym-grade
mkdir -p /dev/shm/mlgym && chown agent: /dev/shm/mlgym && chmod 700 /dev/shm/mlgym
sp=0; command -v setpriv >/dev/null && sp=1
echo "$(id -u agent) $(id -g agent) $sp""#;
