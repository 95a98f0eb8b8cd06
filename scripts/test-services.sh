#!/usr/bin/env bash
# Make sure PostgreSQL, MariaDB and Redis servers are installed and answer on loopback, for the store
# and shared-state tests.
#
# Idempotent and quiet: prints nothing when all is well. Never fails the caller: when a server
# cannot be installed or started, the test fixtures start their own from the Debian binaries in
# a temporary folder, or skip those tests saying why.
set -u

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
fi

say() { echo "test-services: $*" >&2; }
quiet() { "$@" >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_mariadb() { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; }
have_redis() { command -v redis-server >/dev/null 2>&1; }

missing=()
have_postgres || missing+=(postgresql)
have_mariadb || missing+=(mariadb-server)
have_redis || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    if ! { quiet $SUDO apt-get update -qq && quiet $SUDO apt-get install -y -qq "${missing[@]}"; }; then
        say "could not install ${missing[*]}; tests that need them will skip"
    fi
fi

wait_port() {
    for _ in $(seq 1 50); do
        port_open "$1" && return 0
        sleep 0.2
    done
    return 1
}

if have_postgres && ! port_open 5432; then
    if command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _; do
            quiet $SUDO pg_ctlcluster "$version" "$cluster" start
        done
    fi
    port_open 5432 || quiet $SUDO service postgresql start
    wait_port 5432 || say "no PostgreSQL service on 127.0.0.1:5432; tests will start their own"
fi

if have_mariadb && ! port_open 3306; then
    quiet $SUDO service mariadb start || quiet $SUDO service mysql start
    wait_port 3306 || say "no MariaDB service on 127.0.0.1:3306; tests will start their own"
fi
if have_redis && ! port_open 6379; then
    quiet $SUDO service redis-server start
    wait_port 6379 || say "no Redis service on 127.0.0.1:6379; tests will start their own"
fi
exit 0
