# Shared shell helpers for hublink scripts.  Source it; it defines functions only.
# shellcheck shell=bash

# Prefix for log lines; callers set HUBLINK_LOG_TAG before sourcing or after.
: "${HUBLINK_LOG_TAG:=hublink}"

# Milliseconds since the epoch (GNU date).
hl_now_ms() { date +%s%3N; }

# Seconds, with one decimal, since a hl_now_ms value.
hl_since() {
    local ms=$(($(hl_now_ms) - $1))
    printf '%d.%ds' $((ms / 1000)) $(((ms % 1000) / 100))
}

hl_log() { printf '%s: %s\n' "$HUBLINK_LOG_TAG" "$*"; }
hl_warn() { printf '%s: warning: %s\n' "$HUBLINK_LOG_TAG" "$*" >&2; }
hl_die() { printf '%s: error: %s\n' "$HUBLINK_LOG_TAG" "$*" >&2; exit 1; }

# hl_tail_log FILE [LINES]: print the end of a log to stderr, framed, for error reports.
hl_tail_log() {
    local file=$1 lines=${2:-30}
    if [[ -s $file ]]; then
        printf '%s: ---- last %d lines of %s ----\n' "$HUBLINK_LOG_TAG" "$lines" "$file" >&2
        tail -n "$lines" "$file" | sed 's/^/    /' >&2
        printf '%s: ---- end of %s ----\n' "$HUBLINK_LOG_TAG" "$file" >&2
    else
        printf '%s: (%s is empty or missing)\n' "$HUBLINK_LOG_TAG" "$file" >&2
    fi
}

# hl_pid_alive PID: true when PID names a live process (zombies count as dead).
hl_pid_alive() {
    local pid=$1 state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/stat ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# hl_pid_cmdline_has PID TEXT: true when PID is alive and its command line contains TEXT.
# Guards against acting on a recycled PID.
hl_pid_cmdline_has() {
    local pid=$1 text=$2
    hl_pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$text"
}

# hl_pid_env_has PID NAME=VALUE: true when PID is alive and has exactly that variable
# in its environment (readable for one's own processes, or as root).
hl_pid_env_has() {
    hl_pid_alive "$1" || return 1
    grep -qzxF -- "$2" "/proc/$1/environ" 2>/dev/null
}

# hl_tcp_ports_in_use: every local TCP port that has a socket (any state), one per line.
hl_tcp_ports_in_use() {
    ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -un
}

# hl_port_listening PORT: true when something listens on TCP PORT.
hl_port_listening() {
    ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}
