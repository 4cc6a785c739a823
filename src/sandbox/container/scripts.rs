//! Small root scripts run inside containers, each in a fresh root exec (never through
//! the agent's shell, whose builtins and functions the agent controls). They need only
//! bash, coreutils and /proc.

/// Fork-free bash that kills processes until none is left: `$1` = uid of the agent,
/// `$2` = pid to spare (0: none), `$3` = 1 to also kill root daemons (processes of root
/// whose parent is the init, other than the container's own `sleep infinity`).
///
/// Targets are the processes of that uid (and of any other non-root uid: the agent cannot
/// become one, so none is ours) and, with `$3`, the stray root daemons. Each round stops
/// every running target the moment it is seen; a round that sees only stopped targets
/// kills them all. Stopped processes cannot fork (a fork under way when SIGSTOP arrives is
/// abandoned), so a fork loop cannot outrun it; rounds repeat until none is left but
/// zombies and processes with a SIGKILL pending (they run no more code of their own).
/// Nothing here forks (globs, `read`, `kill`, arithmetic are builtins), so it works when
/// a fork bomb holds every pid the container may have: the exec itself joins the cgroup
/// without a fork (when even that fails, the caller restarts the container). Prints how
/// many kills it sent; fails after 8 s (a fork loop can starve it of CPU).
pub const KILL_AGENT_PROCESSES_SH: &str = r#"uid=$1 keep=$2 daemons=${3:-0} total=0
end=$((${EPOCHREALTIME/./} + 8000000))
while :; do
  all=() running=0
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [[ $p == 1 || $p == "$keep" || $p == $$ ]] && continue
    u= s= pp= sig=0
    while read -r k v _; do
      ((${EPOCHREALTIME/./} < end)) || break 2
      case $k in
        State:) s=$v ;;
        PPid:) pp=$v ;;
        Uid:) u=$v ;;
        SigPnd:) ((sig |= 16#$v)) ;;
        ShdPnd:) ((sig |= 16#$v)); break ;;
      esac
    done 2>/dev/null < "$d/status"
    [[ -z $u || $s == Z || $s == X ]] && continue
    if [[ $u == 0 ]]; then
      ((daemons)) && [[ $pp == 1 ]] || continue
      cmd= arg=
      { read -r -d '' cmd; read -r -d '' arg; } 2>/dev/null < "$d/cmdline"
      [[ $cmd == sleep && $arg == infinity ]] && continue
    fi
    ((sig & 256)) && continue # SIGKILL pending (bit 9): dying
    all+=("$p")
    [[ $s == T || $s == t ]] || { kill -STOP "$p" 2>/dev/null; running=1; }
  done
  ((${#all[@]})) || break
  if ((!running)); then
    kill -KILL "${all[@]}" 2>/dev/null
    total=$((total + ${#all[@]}))
  fi
  ((${EPOCHREALTIME/./} < end)) || break
done
((${EPOCHREALTIME/./} < end)) || { echo "$total; some left"; exit 1; }
echo "$total""#;

/// `$1` = pid: stops the whole tree below it (so nothing forks meanwhile), then kills it.
pub const KILL_TREE_SH: &str = r#"tree() { local c; kill -STOP "$1" 2>/dev/null; echo "$1"
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }
pids=$(tree "$1"); kill -KILL $pids 2>/dev/null; true"#;

/// Set-up after start: the grading root only root can enter, a copy of the agent's
/// home as the image has it (without the workspace; owner and mode included) in the
/// root-only `/var/lib/mlgym`, the shell's state folder on tmpfs; prints the agent's uid
/// and gid and whether `setpriv` exists (1 or 0).
pub const SETUP_SH: &str = r#"set -e
# $1 $2: the host user's ids, when the agent must take them (see agent_ids_for_host).
if [[ -n ${1-} && $(id -u agent) != "$1" ]]; then
  # (No usermod in a minimal image: the two files are edited in place.)
  old_u=$(id -u agent) old_g=$(id -g agent)
  sed -i "s/^agent:\([^:]*\):$old_u:$old_g:/agent:\1:$1:$2:/" /etc/passwd
  sed -i "s/^agent:\([^:]*\):$old_g:/agent:\1:$2:/" /etc/group
  chown -R "$1:$2" /home/agent 2>/dev/null || true
fi
mkdir -p /run/mlgym-grade && chown root:root /run/mlgym-grade && chmod 700 /run/mlgym-grade
mkdir -p /var/lib/mlgym && chown root:root /var/lib/mlgym && chmod 700 /var/lib/mlgym
# Only once: after a restart the agent's home is no longer the image's.
if [[ ! -e /var/lib/mlgym/home.done ]]; then
  rm -rf /var/lib/mlgym/home && mkdir /var/lib/mlgym/home
  shopt -s dotglob nullglob
  for f in /home/agent/*; do
    [[ $f == /home/agent/workspace ]] || cp -a -- "$f" /var/lib/mlgym/home/
  done
  chown --reference=/home/agent /var/lib/mlgym/home
  chmod --reference=/home/agent /var/lib/mlgym/home
  touch /var/lib/mlgym/home.done
fi
rm -rf /dev/shm/mlgym && install -d -o agent -g agent -m 700 /dev/shm/mlgym
sp=0; command -v setpriv >/dev/null && sp=1
echo "$(id -u agent) $(id -g agent) $sp""#;

/// A warm reset, as root, after [`KILL_AGENT_PROCESSES_SH`] has run in the same process:
/// nothing of the last episode is left outside the workspace (which the host restores
/// afterwards). Empties the scratch folders (`/tmp`, `/var/tmp`, `/dev/shm`, `/run/lock`,
/// POSIX message queues), System V IPC, restores the agent's home (owner and mode too)
/// from the set-up copy, and makes a new shell state folder. `rm`, `cp -a` and `find
/// -delete` never follow links; a program runs only when there is something to remove.
pub const RESET_SH: &str = r#"shopt -s dotglob nullglob
scratch=(/tmp/* /var/tmp/* /dev/shm/* /run/lock/* /dev/mqueue/*)
if ((${#scratch[@]})); then
  find /tmp /var/tmp /dev/shm /run/lock /dev/mqueue -xdev -mindepth 1 -delete 2>/dev/null || true
fi
ipc=0
for f in /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem; do
  n=0
  while read -r _; do n=$((n + 1)); done 2>/dev/null < "$f" || true
  if ((n > 1)); then ipc=1; fi
done
if ((ipc)); then ipcrm --all 2>/dev/null || true; fi
home=()
for f in /home/agent/*; do
  if [[ $f != /home/agent/workspace ]]; then home+=("$f"); fi
done
if ((${#home[@]})); then rm -rf -- "${home[@]}"; fi
cp -a /var/lib/mlgym/home/. /home/agent/
install -d -o agent -g agent -m 700 /dev/shm/mlgym
"#;
