#!/usr/bin/env bash
# DataMesh: build, test, demo and benchmarks against real throwaway servers.
#
#   ./build.sh test [dotnet test options]   install what is missing (tests/node's packages with npm ci), start
#                                           PostgreSQL 15 and MariaDB 10.11, build DataMesh.sln once, run every
#                                           tests/*/*.csproj, count the
#                                           TRX results; the last line is "N passed, N failed"
#   ./build.sh demo [args]                  start the servers, run samples/Quickstart
#   ./build.sh bench NAME [args]            start the servers, run benchmarks/DataMesh.Benchmarks -- NAME;
#                                           its own last line ("NAME: ...") is the last line printed
#   ./build.sh servers                      start the servers, print their environment, wait for Ctrl-C
#
# The servers live in /tmp/datamesh-servers.* on free 127.0.0.1 ports and are stopped, and their folder
# removed, when this script exits for any reason (see scripts/servers.sh). Everything this script says
# goes to stderr; stdout carries only the output of dotnet, the program run and the final count.
#
# Environment: ArtifactsPath (MSBuild's, honoured when set), DATAMESH_CONFIGURATION (Release),
# DATAMESH_TEST_RESULTS (TRX folder; default $ArtifactsPath/TestResults or ./TestResults/build.sh),
# DATAMESH_TEST_HANG_TIMEOUT (15m, per test), DATAMESH_SERVER_START_TIMEOUT (60, seconds).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$REPO"
# shellcheck source=scripts/servers.sh
source "$REPO/scripts/servers.sh"

CONFIGURATION="${DATAMESH_CONFIGURATION:-Release}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

usage() {
    cat >&2 <<'EOF'
usage: ./build.sh COMMAND

  test [dotnet test options]   start PostgreSQL 15 and MariaDB 10.11, build DataMesh.sln, run every test
                               project; last line: "N passed, N failed"; exit 0 only if none failed
  demo [args]                  start the servers and run samples/Quickstart
  bench NAME [args]            start the servers and run benchmarks/DataMesh.Benchmarks -- NAME [args]
  servers                      start the servers, print their DATAMESH_* environment, wait for Ctrl-C

Missing packages (postgresql, mariadb-server, kcat, python3, nodejs, npm, chromium) are installed with apt-get when run as root.
Tests restart the servers with scripts/pg-ctl.sh and scripts/mariadb-ctl.sh.
EOF
}

start_servers() {
    trap dm_stop_servers EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    dm_ensure_prerequisites
    dm_start_servers
}

run_tests() {
    local results="${DATAMESH_TEST_RESULTS:-}"
    if [[ -z "$results" ]]; then
        if [[ -n "${ArtifactsPath:-}" ]]; then results="$ArtifactsPath/TestResults"; else results="$REPO/TestResults/build.sh"; fi
    fi
    rm -rf "$results"
    mkdir -p "$results"

    local projects=() names=() project name
    mapfile -t projects < <(find tests -mindepth 2 -maxdepth 2 -name '*.csproj' | LC_ALL=C sort)
    ((${#projects[@]} > 0)) || dm_die "no test project under tests/"

    # tests/node's packages, exactly as package-lock.json pins them; a failure here fails the tests that need them.
    dm_log "installing the Node client of the tests (npm ci in tests/node)"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error >&2) \
        || dm_log "npm ci in tests/node failed: the Node client tests will fail saying so"

    dm_log "building DataMesh.sln ($CONFIGURATION)"
    local built=1 start=$SECONDS
    if ! dotnet build DataMesh.sln -c "$CONFIGURATION" --nologo -v minimal; then
        built=0
        dm_log "the solution did not build; each test project is built on its own and one that does not build counts as a failure"
    fi
    dm_log "build finished in $((SECONDS - start)) s"

    # Every log line of the integration tests' hosts and connector processes goes here; scanned for passwords below.
    export DATAMESH_TEST_LOGS="$results/logs"
    for project in "${projects[@]}"; do
        name="$(basename "$project" .csproj)"
        names+=("$name")
        mkdir -p "$results/$name"
        local args=(test "$project" -c "$CONFIGURATION" --nologo
            --results-directory "$results/$name" --logger "trx;LogFileName=$name.trx"
            --blame-hang-timeout "${DATAMESH_TEST_HANG_TIMEOUT:-15m}" --blame-hang-dump-type none)
        # After a failed solution build, never run a test assembly left over from an earlier build.
        ((built)) && args+=(--no-build)
        dm_log "testing $name"
        start=$SECONDS
        local code=0
        dotnet "${args[@]}" "$@" || code=$?
        echo "$code $((SECONDS - start))" >"$results/$name/exit-code"
    done

    names+=(SecretScan)
    python3 "$REPO/scripts/scan-secrets.py" "$results" || true

    dm_log "results in $results"
    echo
    echo "Test results ($CONFIGURATION):"
    python3 "$REPO/scripts/count-trx.py" "$results" "${names[@]}"
}

run_bench() {
    local name="$1" out="$DM_ROOT/bench.out" code=0
    dm_log "running benchmark $name"
    dotnet run -c Release --project benchmarks/DataMesh.Benchmarks -- "$@" | tee "$out" || code=$?
    if ((code != 0)); then
        dm_log "error: benchmark '$name' failed (exit code $code)"
        return "$code"
    fi
    # The contract with benchmarks/DataMesh.Benchmarks: a run of NAME ends with the line "NAME: ...".
    if [[ "$(tail -n 1 "$out")" != "$name:"* ]]; then
        dm_log "error: benchmark '$name' printed no result line '$name: ...' as its last line (is '$name' a benchmark of benchmarks/DataMesh.Benchmarks?)"
        return 1
    fi
}

run_servers() {
    {
        echo "# DataMesh test servers are running; in another shell:"
        echo "#   source $DM_ROOT/env.sh"
        echo "# They stop when you press Ctrl-C here."
        cat "$DM_ROOT/env.sh"
    }
    # Short sleeps: the INT/TERM trap runs between them, and no sleeper is left behind.
    while :; do sleep 1; done
}

command="${1:-}"
(($# == 0)) || shift
case "$command" in
    test)
        start_servers
        run_tests "$@"
        ;;
    demo)
        start_servers
        dm_log "running samples/Quickstart"
        dotnet run --project samples/Quickstart -- "$@"
        ;;
    bench)
        if (($# == 0)); then
            echo "./build.sh bench needs the name of a benchmark, e.g. ./build.sh bench avro" >&2
            usage
            exit 2
        fi
        start_servers
        run_bench "$@"
        ;;
    servers)
        start_servers
        run_servers
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        [[ -z "$command" ]] || echo "unknown command: $command" >&2
        usage
        exit 2
        ;;
esac
