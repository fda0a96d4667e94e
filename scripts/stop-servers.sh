#!/usr/bin/env bash
# Stops the throwaway servers under one folder made by scripts/servers.sh and removes the folder.
#
#   scripts/stop-servers.sh ROOT                  stop now (./build.sh calls this on exit)
#   scripts/stop-servers.sh --when-gone PID ROOT  wait until process PID has exited, then stop (the watchdog
#                                                 ./build.sh starts, so that even a killed build.sh leaves
#                                                 no server behind)
#
# The servers hold nothing worth keeping, so they are not shut down cleanly: PostgreSQL gets SIGQUIT
# (immediate shutdown, the postmaster still ends its children) and MariaDB gets SIGKILL.
set -euo pipefail

# Running, not a zombie: an exited server may wait a while for its adoptive parent to reap it.
alive() {
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 1)"
    [[ -n "$state" && "$state" != Z ]]
}

if [[ "${1:-}" == --when-gone ]]; then
    parent="${2:?usage: $0 --when-gone PID ROOT}"
    root="${3:?usage: $0 --when-gone PID ROOT}"
    while alive "$parent" && [[ -d "$root" ]]; do sleep 1; done
else
    root="${1:?usage: $0 ROOT}"
fi

# Never remove anything but a folder this project made.
[[ "$(basename "$root")" == datamesh-servers.* ]] || { echo "stop-servers.sh: refusing to remove $root" >&2; exit 2; }
[[ -d "$root" ]] || exit 0

pids=()
pg_pid="$(head -n 1 "$root/pg/data/postmaster.pid" 2>/dev/null || true)"
if [[ -n "$pg_pid" ]] && kill -QUIT "$pg_pid" 2>/dev/null; then pids+=("$pg_pid"); fi
maria_pid="$(cat "$root/mariadb/mariadbd.pid" 2>/dev/null || true)"
if [[ -n "$maria_pid" ]] && kill -KILL "$maria_pid" 2>/dev/null; then pids+=("$maria_pid"); fi

deadline=$((SECONDS + 15))
for pid in "${pids[@]}"; do
    while alive "$pid"; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            ((SECONDS < deadline + 5)) || { echo "stop-servers.sh: process $pid does not end" >&2; break; }
        fi
        sleep 0.05
    done
done
rm -rf "$root"
