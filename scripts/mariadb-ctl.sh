#!/usr/bin/env bash
# Controls the throwaway MariaDB 10.11 that ./build.sh starts (test, demo, bench, servers).
#
#   scripts/mariadb-ctl.sh start | stop | restart | crash-restart | status
#
# restart        clean shutdown (SIGTERM) then start: the server opens a new binlog file, GTIDs continue.
# crash-restart  SIGKILL then start, like a crash: InnoDB and binlog recovery run on start.
#
# Reads DATAMESH_MARIADB_DATA (exported by ./build.sh) and the option file DATAMESH_MARIADB_CONFIG (by
# default my.cnf beside the data folder), which holds every server setting (port, socket, pid-file,
# log-error, binlog), so a restart runs the server exactly as ./build.sh did. Exit code 0 once the server
# answers a ping (start/restart) or has exited (stop).
set -euo pipefail

die() { echo "mariadb-ctl.sh: $*" >&2; exit 1; }

[[ -n "${DATAMESH_MARIADB_DATA:-}" ]] || die "DATAMESH_MARIADB_DATA is not set: run ./build.sh test (or ./build.sh servers), which starts the servers"
config="${DATAMESH_MARIADB_CONFIG:-$(dirname "$DATAMESH_MARIADB_DATA")/my.cnf}"
[[ -f "$config" ]] || die "option file $config does not exist (were the servers stopped?)"
timeout="${DATAMESH_SERVER_START_TIMEOUT:-60}"
# /usr/sbin is not on every user's PATH.
mariadbd="$(command -v mariadbd || echo /usr/sbin/mariadbd)"

# Value of one option of the [mariadbd] group of the option file (written by scripts/servers.sh).
option() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$config" | tail -n 1; }
port="$(option port)"
pid_file="$(option pid-file)"
log="$(option log-error)"
socket="$(option socket)"
[[ -n "$port" && -n "$pid_file" && -n "$log" && -n "$socket" ]] || die "$config must set port, pid-file, log-error and socket"

fail_with_log() {
    echo "mariadb-ctl.sh: $1; last lines of $log:" >&2
    tail -n 30 "$log" >&2 2>/dev/null || true
    exit 1
}

# Running, not a zombie: an exited server may wait a while for its adoptive parent to reap it.
alive() {
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 1)"
    [[ -n "$state" && "$state" != Z ]]
}

server_pid() {
    local pid
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && alive "$pid"; then echo "$pid"; fi
}

wait_gone() {
    local pid="$1" deadline=$((SECONDS + timeout)) killed=0
    while alive "$pid"; do
        if ((SECONDS >= deadline)); then
            ((killed == 0)) || die "server $pid does not end even after SIGKILL"
            echo "mariadb-ctl.sh: server $pid did not stop within ${timeout}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            killed=1
            deadline=$((SECONDS + 10))
        fi
        sleep 0.05
    done
}

start() {
    [[ -z "$(server_pid)" ]] || return 0
    local pid deadline=$((SECONDS + timeout))
    # A session of its own and no inherited descriptors: the server outlives the caller (a test process
    # reading this script's output) and never holds the caller's pipes open.
    setsid "$mariadbd" --defaults-file="$config" </dev/null >>"$log" 2>&1 &
    pid=$!
    # mariadb-admin ping exits 0 as soon as the server answers, even with "access denied" (through the socket;
    # over TCP a host with no account at all gets error 1130, which ping reports as failure).
    until mariadb-admin --no-defaults --socket="$socket" --user=ping --connect-timeout=2 ping >/dev/null 2>&1; do
        alive "$pid" || fail_with_log "mariadbd exited during start"
        ((SECONDS < deadline)) || fail_with_log "MariaDB did not answer on 127.0.0.1:$port within ${timeout}s"
        sleep 0.1
    done
}

stop() {
    local pid signal="$1"
    pid="$(server_pid)"
    [[ -n "$pid" ]] || return 0
    kill "-$signal" "$pid"
    wait_gone "$pid"
}

case "${1:-}" in
    start) start ;;
    stop) stop TERM ;;
    restart) stop TERM; start ;;
    crash-restart) stop KILL; start ;;
    status)
        pid="$(server_pid)"
        if [[ -n "$pid" ]]; then echo "mariadbd is running (pid $pid, port $port)"; else echo "mariadbd is not running"; exit 3; fi
        ;;
    *)
        echo "usage: $0 start | stop | restart | crash-restart | status" >&2
        exit 2
        ;;
esac
