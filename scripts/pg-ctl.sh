#!/usr/bin/env bash
# Controls the throwaway PostgreSQL 15 that ./build.sh starts (test, demo, bench, servers).
#
#   scripts/pg-ctl.sh start | stop [fast|immediate] | restart | crash-restart | status
#
# restart        clean restart (pg_ctl -m fast): connections are closed, slots and data survive.
# crash-restart  immediate shutdown (no checkpoint, like a crash) then start: WAL recovery runs on start.
#
# Reads DATAMESH_PG_BIN and DATAMESH_PG_DATA (exported by ./build.sh). The server log is DATAMESH_PG_LOG,
# by default postgresql.log beside the data folder. PostgreSQL refuses to run as root: when called by root,
# pg_ctl runs as the owner of the data folder (the `postgres` user). Exit code 0 once the server accepts
# connections again (start/restart) or has stopped (stop).
set -euo pipefail

die() { echo "pg-ctl.sh: $*" >&2; exit 1; }

[[ -n "${DATAMESH_PG_BIN:-}" ]] || die "DATAMESH_PG_BIN is not set: run ./build.sh test (or ./build.sh servers), which starts the servers"
[[ -n "${DATAMESH_PG_DATA:-}" ]] || die "DATAMESH_PG_DATA is not set: run ./build.sh test (or ./build.sh servers), which starts the servers"
[[ -d "$DATAMESH_PG_DATA" ]] || die "data folder $DATAMESH_PG_DATA does not exist (were the servers stopped?)"

data="$DATAMESH_PG_DATA"
log="${DATAMESH_PG_LOG:-$(dirname "$data")/postgresql.log}"
timeout="${DATAMESH_SERVER_START_TIMEOUT:-60}"
owner="$(stat -c %U "$data")"

as_owner() {
    if [[ "$(id -un)" == "$owner" ]]; then
        "$@"
    elif [[ $EUID -eq 0 ]]; then
        runuser -u "$owner" -- "$@"
    else
        die "the data folder belongs to $owner; run as $owner or root"
    fi
}

fail_with_log() {
    echo "pg-ctl.sh: $1; last lines of $log:" >&2
    tail -n 30 "$log" >&2 2>/dev/null || true
    exit 1
}

pg_ctl() { as_owner "$DATAMESH_PG_BIN/pg_ctl" -D "$data" "$@"; }

# pg_ctl -w returns once the postmaster reports "ready"; this also checks that a client can connect.
wait_ready() {
    local port deadline=$((SECONDS + timeout))
    port="$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)"
    until "$DATAMESH_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "${port:-5432}" -t 2; do
        ((SECONDS < deadline)) || fail_with_log "PostgreSQL did not accept connections within ${timeout}s"
        sleep 0.1
    done
}

# Output of pg_ctl goes to stderr so that callers' stdout (a benchmark's result line) stays clean.
case "${1:-}" in
    start)
        if pg_ctl status >/dev/null 2>&1; then exit 0; fi
        pg_ctl -l "$log" -w -t "$timeout" start >&2 || fail_with_log "pg_ctl start failed"
        wait_ready
        ;;
    stop)
        mode="${2:-fast}"
        [[ "$mode" == fast || "$mode" == immediate ]] || die "stop mode must be fast or immediate, not '$mode'"
        if pg_ctl status >/dev/null 2>&1; then
            pg_ctl -m "$mode" -w -t "$timeout" stop >&2 || fail_with_log "pg_ctl stop failed"
        fi
        ;;
    restart)
        pg_ctl -l "$log" -m fast -w -t "$timeout" restart >&2 || fail_with_log "pg_ctl restart failed"
        wait_ready
        ;;
    crash-restart)
        if pg_ctl status >/dev/null 2>&1; then
            pg_ctl -m immediate -w -t "$timeout" stop >&2 || fail_with_log "pg_ctl stop -m immediate failed"
        fi
        pg_ctl -l "$log" -w -t "$timeout" start >&2 || fail_with_log "pg_ctl start after the crash failed"
        wait_ready
        ;;
    status)
        pg_ctl status
        ;;
    *)
        echo "usage: $0 start | stop [fast|immediate] | restart | crash-restart | status" >&2
        exit 2
        ;;
esac
