# shellcheck shell=bash
# Throwaway PostgreSQL 15 and MariaDB 10.11 for the tests, the demo and the benchmarks. Sourced by ./build.sh.
#
#   dm_ensure_prerequisites   installs what is missing (Debian 12: apt-get update once, then install)
#   dm_start_servers          starts both servers in a new /tmp/datamesh-servers.* folder on free loopback
#                             ports, creates user and database `datamesh` in each, exports DATAMESH_* and
#                             writes them to $DATAMESH_SERVERS_ROOT/env.sh
#   dm_stop_servers           stops both servers and removes the folder (./build.sh traps EXIT, INT, TERM)
#
# Settings: PostgreSQL with wal_level=logical, 64 slots and WAL senders, 200 connections, no fsync (but
# synchronous_commit on, see below), scram
# passwords on 127.0.0.1 (replication connections too); MariaDB with a ROW/FULL binlog with full row
# metadata, GTID strict mode, server_id 1, a small fast InnoDB. Everything is in config files in the folder
# so that scripts/pg-ctl.sh and scripts/mariadb-ctl.sh restart the servers exactly as they were started.
#
# TLS: both servers offer TLS with a certificate for IP 127.0.0.1 (and no host name, so that `localhost`
# is a wrong host name for VerifyFull) signed by a throwaway CA in $DATAMESH_TLS_DIR (ca.pem, ca.key:
# tests sign their own client certificates with it). User `datamesh_cert` (password DATAMESH_TLS_PASSWORD)
# must present a client certificate with CN=datamesh_cert signed by that CA (MariaDB REQUIRE SUBJECT,
# PostgreSQL hostssl ... clientcert=verify-full). DATAMESH_PG_CONNECTION and DATAMESH_MARIADB_CONNECTION
# turn TLS off (SSL Mode=Disable, SslMode=None), so that every other test and benchmark runs as before; the
# TLS tests set their own SslMode.

DM_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DM_PG_BIN="${DATAMESH_PG_BIN:-/usr/lib/postgresql/15/bin}"
DM_ROOT=""
DM_WATCHDOG_PID=""

dm_log() { printf '[build.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
dm_die() { dm_log "error: $*"; exit 1; }

# Milliseconds since the epoch, for the startup timings.
dm_now_ms() { local t="${EPOCHREALTIME/./}"; echo "${t:0:-3}"; }

dm_ensure_prerequisites() {
    local missing=()
    [[ -x "$DM_PG_BIN/initdb" && -x "$DM_PG_BIN/psql" ]] || missing+=(postgresql)
    if [[ ! -x /usr/sbin/mariadbd ]] && ! command -v mariadbd >/dev/null; then missing+=(mariadb-server); fi
    local tool
    for tool in mariadb-install-db mariadb mariadb-admin mariadb-binlog; do
        if ! command -v "$tool" >/dev/null; then missing+=(mariadb-server mariadb-client); break; fi
    done
    command -v kcat >/dev/null || missing+=(kcat)
    command -v python3 >/dev/null || missing+=(python3)
    # The Node client of the tests (tests/node: kafkajs, @kafkajs/confluent-schema-registry, installed by npm ci).
    command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
    # The page test's headless browser (tests/DataMesh.Server.Tests/PageTests.cs; Microsoft.Playwright drives it by path).
    [[ -x /usr/lib/chromium/chromium ]] || missing+=(chromium)
    # The locale sources localedef compiles (below).
    [[ -f /usr/share/i18n/locales/es_AR ]] || missing+=(locales)

    if ((${#missing[@]} > 0)); then
        local sudo=()
        if [[ $EUID -ne 0 ]]; then
            if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
                sudo=(sudo)
            else
                dm_die "missing packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}"
            fi
        fi
        dm_log "installing ${missing[*]} (apt-get)"
        # Another apt-get may hold the lock for a while (unattended upgrades, a concurrent build): wait for it.
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 \
            || dm_die "apt-get update failed"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            --no-install-recommends "${missing[@]}" >&2 || dm_die "apt-get install ${missing[*]} failed"
    fi

    # PostgresMoneyTests: money under a database's lc_monetary whose form is not C's. PostgreSQL accepts a locale only
    # when the operating system has it, and sees one compiled while it runs.
    local locale as_root=()
    [[ $EUID -eq 0 ]] || as_root=(sudo -n)
    for locale in de_DE es_AR ja_JP; do
        locale -a 2>/dev/null | grep -qix "$locale\.utf-\?8" && continue
        "${as_root[@]}" localedef --no-archive -i "$locale" -f UTF-8 "$locale.UTF-8" >&2 \
            || dm_log "warning: no locale $locale.UTF-8 (PostgresMoneyTests will fail); as root: localedef --no-archive -i $locale -f UTF-8 $locale.UTF-8"
    done

    command -v dotnet >/dev/null || dm_die "the .NET SDK is not on PATH; install the SDK that global.json names (10.0.x)"
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || dm_die "user postgres is missing (the postgresql package creates it); reinstall postgresql"
        id mysql >/dev/null 2>&1 || dm_die "user mysql is missing (the mariadb-server package creates it); reinstall mariadb-server"
    fi
}

# A loopback port nothing listens on, below the kernel's ephemeral range (32768-60999) so that no outgoing
# connection takes it while a test restarts the server.
dm_pick_port() {
    python3 - <<'EOF'
import random, socket
for _ in range(200):
    port = random.randrange(20000, 32000)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("no free port found in 20000-32000")
EOF
}

dm_random_password() { python3 -c 'import secrets; print(secrets.token_hex(12))'; }

# A throwaway CA and a server certificate for IP 127.0.0.1 (serverAuth), in $DM_ROOT/tls.
dm_make_tls() {
    local tls="$DM_ROOT/tls"
    mkdir -p "$tls"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 30 \
            -subj "/CN=DataMesh throwaway test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -newkey rsa:2048 -nodes -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=127.0.0.1" &&
        printf '%s\n' "subjectAltName=IP:127.0.0.1" "extendedKeyUsage=serverAuth" \
            "keyUsage=critical,digitalSignature,keyEncipherment" "basicConstraints=critical,CA:FALSE" >"$tls/server.ext" &&
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
            -out "$tls/server.pem" -days 30 -extfile "$tls/server.ext"
    } >"$tls/openssl.log" 2>&1 || { cat "$tls/openssl.log" >&2; dm_die "openssl could not make the test certificates"; }
    chmod 755 "$tls"
    chmod 644 "$tls/ca.pem" "$tls/server.pem"
    export DATAMESH_TLS_DIR="$tls" DATAMESH_TLS_USER="datamesh_cert"
    DATAMESH_TLS_PASSWORD="$(dm_random_password)"
    export DATAMESH_TLS_PASSWORD
}

# Copies the server certificate, its key and the CA into a server's folder, owned by the server's user.
dm_install_tls() {
    local dir="$1" owner="$2"
    mkdir -p "$dir"
    cp "$DATAMESH_TLS_DIR/ca.pem" "$DATAMESH_TLS_DIR/server.pem" "$DATAMESH_TLS_DIR/server.key" "$dir/"
    chmod 600 "$dir/server.key"
    [[ $EUID -ne 0 ]] || chown -R "$owner:" "$dir"
}

# Runs a command as the owner of the PostgreSQL files (postgres when we are root: PostgreSQL refuses root).
dm_as_pg() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

dm_start_postgres() {
    local dir="$DM_ROOT/pg" data="$DM_ROOT/pg/data" port="" attempt start_ms
    start_ms="$(dm_now_ms)"
    mkdir -p "$dir"
    [[ $EUID -ne 0 ]] || chown postgres: "$dir"
    chmod 700 "$dir"
    dm_as_pg "$DM_PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions >"$dir/initdb.log" 2>&1 \
        || { tail -n 20 "$dir/initdb.log" >&2; dm_die "initdb failed (log above)"; }

    # Connections only from 127.0.0.1 with a password, replication connections too; the socket (in our own
    # folder) is trusted so that this script can create the user. $DATAMESH_TLS_USER connects only over TLS
    # with a client certificate whose CN is its name (mTLS), and a password.
    dm_as_pg tee "$data/pg_hba.conf" >/dev/null <<EOF
# TYPE    DATABASE     USER  ADDRESS        METHOD
local     all          all                  trust
local     replication  all                  trust
hostssl   all          $DATAMESH_TLS_USER  127.0.0.1/32   scram-sha-256  clientcert=verify-full
hostssl   replication  $DATAMESH_TLS_USER  127.0.0.1/32   scram-sha-256  clientcert=verify-full
host      all          $DATAMESH_TLS_USER  127.0.0.1/32   reject
host      replication  $DATAMESH_TLS_USER  127.0.0.1/32   reject
host      all          all   127.0.0.1/32   scram-sha-256
host      replication  all   127.0.0.1/32   scram-sha-256
EOF
    dm_install_tls "$dir/tls" postgres
    echo "include 'datamesh.conf'" | dm_as_pg tee -a "$data/postgresql.conf" >/dev/null

    export DATAMESH_PG_BIN="$DM_PG_BIN" DATAMESH_PG_DATA="$data" DATAMESH_PG_LOG="$dir/postgresql.log"
    for attempt in 1 2 3; do
        port="$(dm_pick_port)"
        dm_as_pg tee "$data/datamesh.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
wal_level = logical
max_replication_slots = 64
max_wal_senders = 64
fsync = off
full_page_writes = off
# synchronous_commit stays on: with fsync off it costs next to nothing, and off it would delay logical
# decoding (which reads only flushed WAL) by up to wal_writer_delay and lose commits in a crash-restart.
synchronous_commit = on
shared_buffers = 128MB
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
ssl = on
ssl_cert_file = '$dir/tls/server.pem'
ssl_key_file = '$dir/tls/server.key'
ssl_ca_file = '$dir/tls/ca.pem'
EOF
        dm_as_pg truncate -s 0 "$DATAMESH_PG_LOG" 2>/dev/null || true
        if "$DM_SCRIPTS/pg-ctl.sh" start 2>"$dir/start.err"; then break; fi
        if ((attempt < 3)) && grep -qiE 'could not (bind|create listen)|address already in use' "$DATAMESH_PG_LOG"; then
            dm_log "PostgreSQL port $port was taken meanwhile; trying another"
            continue
        fi
        cat "$dir/start.err" >&2
        dm_die "PostgreSQL did not start (log above)"
    done

    local password
    password="$(dm_random_password)"
    dm_as_pg "$DM_PG_BIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt >/dev/null <<EOF \
        || dm_die "could not create the datamesh user and database in PostgreSQL"
CREATE ROLE datamesh WITH LOGIN SUPERUSER REPLICATION CREATEDB CREATEROLE PASSWORD '$password';
CREATE DATABASE datamesh OWNER datamesh;
CREATE ROLE $DATAMESH_TLS_USER WITH LOGIN SUPERUSER REPLICATION PASSWORD '$DATAMESH_TLS_PASSWORD';
EOF
    "$DM_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d datamesh -U datamesh -t 10 \
        || dm_die "PostgreSQL does not answer on 127.0.0.1:$port"

    export DATAMESH_PG_CONNECTION="Host=127.0.0.1;Port=$port;Username=datamesh;Password=$password;Database=datamesh;SSL Mode=Disable"
    export DATAMESH_PG_PORT="$port" DATAMESH_PG_SOCKET_DIR="$dir" DATAMESH_PG_CTL_COMMAND="$DM_SCRIPTS/pg-ctl.sh"
    dm_log "PostgreSQL $(dm_as_pg "$DM_PG_BIN/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port in $(($(dm_now_ms) - start_ms)) ms"
}

dm_start_mariadb() {
    local dir="$DM_ROOT/mariadb" port="" attempt start_ms run_as=() install_user=()
    start_ms="$(dm_now_ms)"
    mkdir -p "$dir/data" "$dir/binlog"
    if [[ $EUID -eq 0 ]]; then run_as=("user = mysql"); install_user=(--user=mysql); fi
    local config="$dir/my.cnf"
    cat >"$config" <<EOF
[mariadbd]
${run_as[*]}
datadir = $dir/data
port = 0
bind-address = 127.0.0.1
socket = $dir/mariadbd.sock
pid-file = $dir/mariadbd.pid
log-error = $dir/mariadbd.log
skip-name-resolve
max-connections = 200
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
# The binlog as a CDC connector needs it: every row image whole, with column names and types.
server-id = 1
log-bin = $dir/binlog/mariadb-bin
log-bin-index = $dir/binlog/mariadb-bin.index
binlog-format = ROW
binlog-row-image = FULL
binlog-row-metadata = FULL
gtid-strict-mode = 1
sync-binlog = 0
# Small and fast: nothing here must survive a power cut.
innodb-buffer-pool-size = 128M
innodb-log-file-size = 32M
innodb-flush-log-at-trx-commit = 2
innodb-doublewrite = 0
performance-schema = OFF
# TLS for the TLS tests (the client certificate of $DATAMESH_TLS_USER is checked against ssl-ca).
ssl-ca = $dir/tls/ca.pem
ssl-cert = $dir/tls/server.pem
ssl-key = $dir/tls/server.key
EOF
    dm_install_tls "$dir/tls" mysql
    [[ $EUID -ne 0 ]] || chown -R mysql: "$dir"
    mariadb-install-db --defaults-file="$config" "${install_user[@]}" --skip-test-db \
        --auth-root-authentication-method=socket --auth-root-socket-user="$(id -un)" >"$dir/install.log" 2>&1 \
        || { tail -n 20 "$dir/install.log" >&2; dm_die "mariadb-install-db failed (log above)"; }

    export DATAMESH_MARIADB_DATA="$dir/data" DATAMESH_MARIADB_CONFIG="$config"
    for attempt in 1 2 3; do
        port="$(dm_pick_port)"
        sed -i "s/^port = .*/port = $port/" "$config"
        : >"$dir/mariadbd.log"
        if "$DM_SCRIPTS/mariadb-ctl.sh" start 2>"$dir/start.err"; then break; fi
        if ((attempt < 3)) && grep -qiE 'bind on tcp/ip port|address already in use' "$dir/mariadbd.log"; then
            dm_log "MariaDB port $port was taken meanwhile; trying another"
            continue
        fi
        cat "$dir/start.err" >&2
        dm_die "MariaDB did not start (log above)"
    done

    local password
    password="$(dm_random_password)"
    mariadb --no-defaults --socket="$dir/mariadbd.sock" --user=root >/dev/null <<EOF \
        || dm_die "could not create the datamesh user and database in MariaDB"
CREATE USER 'datamesh'@'%' IDENTIFIED BY '$password';
CREATE USER 'datamesh'@'localhost' IDENTIFIED BY '$password';
-- ALL PRIVILEGES on *.* includes REPLICATION SLAVE, REPLICATION CLIENT (BINLOG MONITOR) and SLAVE MONITOR.
GRANT ALL PRIVILEGES ON *.* TO 'datamesh'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'datamesh'@'localhost' WITH GRANT OPTION;
CREATE USER '$DATAMESH_TLS_USER'@'%' IDENTIFIED BY '$DATAMESH_TLS_PASSWORD' REQUIRE SUBJECT '/CN=$DATAMESH_TLS_USER';
GRANT ALL PRIVILEGES ON *.* TO '$DATAMESH_TLS_USER'@'%';
CREATE DATABASE datamesh;
EOF
    MYSQL_PWD="$password" mariadb-admin --no-defaults --protocol=TCP --host=127.0.0.1 --port="$port" \
        --user=datamesh status >/dev/null || dm_die "the datamesh user cannot log in to MariaDB on 127.0.0.1:$port"

    export DATAMESH_MARIADB_CONNECTION="Server=127.0.0.1;Port=$port;User ID=datamesh;Password=$password;Database=datamesh;SslMode=None"
    export DATAMESH_MARIADB_PORT="$port" DATAMESH_MARIADB_BINLOG_DIR="$dir/binlog" \
        DATAMESH_MARIADB_LOG="$dir/mariadbd.log" DATAMESH_MARIADB_SOCKET="$dir/mariadbd.sock" \
        DATAMESH_MARIADB_CTL_COMMAND="$DM_SCRIPTS/mariadb-ctl.sh"
    dm_log "MariaDB $(mariadb --no-defaults --socket="$dir/mariadbd.sock" --user=root -N -e 'SELECT VERSION()') ready on 127.0.0.1:$port in $(($(dm_now_ms) - start_ms)) ms"
}

dm_start_servers() {
    DM_ROOT="$(mktemp -d /tmp/datamesh-servers.XXXXXXXX)"
    chmod 755 "$DM_ROOT" # postgres and mysql must reach their folders inside it
    export DATAMESH_SERVERS_ROOT="$DM_ROOT"
    # Stops the servers even if this script is killed (SIGKILL runs no trap).
    setsid "$DM_SCRIPTS/stop-servers.sh" --when-gone "$$" "$DM_ROOT" </dev/null >/dev/null 2>&1 &
    DM_WATCHDOG_PID=$!

    dm_make_tls
    dm_start_postgres
    dm_start_mariadb

    local name
    {
        echo "# Throwaway DataMesh test servers; they stop when the ./build.sh that started them exits."
        for name in $(compgen -e | grep '^DATAMESH_' | sort); do
            printf 'export %s=%q\n' "$name" "${!name}"
        done
    } >"$DM_ROOT/env.sh"
}

dm_stop_servers() {
    [[ -n "$DM_ROOT" ]] || return 0
    if [[ -n "$DM_WATCHDOG_PID" ]]; then kill "$DM_WATCHDOG_PID" 2>/dev/null || true; fi
    "$DM_SCRIPTS/stop-servers.sh" "$DM_ROOT" || dm_log "could not remove $DM_ROOT"
    DM_ROOT=""
}
