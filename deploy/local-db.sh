#!/usr/bin/env bash
# A PostgreSQL for development and tests that needs nobody.
#
#   deploy/local-db.sh url [DBNAME]   print a URL to DBNAME (default: postgres), creating it
#   deploy/local-db.sh stop           stop the throwaway cluster, if this script started one
#   deploy/local-db.sh status         say which server would be used
#
# Which server: $DATABASE_URL when set (its database name is replaced by DBNAME); else the
# server at $OMNI_PG_PROBE (default 127.0.0.1:5432) when it accepts user postgres without a
# password; else a throwaway cluster made with initdb under target/pg and started with
# pg_ctl on 127.0.0.1:$OMNI_PG_PORT (default 55432), reused by the next run. An empty
# OMNI_PG_PROBE skips the probe (always the cluster under $OMNI_PG_DIR). The cluster is
# made for speed over durability (fsync off) unless OMNI_PG_CONF names a file of settings
# to use instead (`make bench` gives it a durable, production-like configuration); either is
# written when the cluster is created, so a changed OMNI_PG_CONF needs a new cluster.
# OMNI_PG_TLS_DIR names a folder holding server.crt and server.key: the new cluster then
# accepts TLS connections only (the database TLS test makes its own CA and certificate).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cluster_dir=${OMNI_PG_DIR:-$root/target/pg}
port=${OMNI_PG_PORT:-55432}
probe=${OMNI_PG_PROBE-127.0.0.1:5432}
conf=${OMNI_PG_CONF:-}
tls_dir=${OMNI_PG_TLS_DIR:-}

say() { printf 'local-db: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# initdb and pg_ctl: on PATH, where pg_config says, or where Debian keeps them.
find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"; return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin /usr/local/pgsql/bin /opt/homebrew/opt/postgresql*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  return 1
}

bindir=$(find_bindir) || bindir=""
psql_bin() {
  if [ -n "$bindir" ] && [ -x "$bindir/psql" ]; then echo "$bindir/psql"
  elif command -v psql >/dev/null 2>&1; then command -v psql
  else return 1; fi
}

# PostgreSQL refuses to run as root: a root caller runs the cluster as an unprivileged user.
run_as=""
if [ "$(id -u)" = 0 ]; then
  if id postgres >/dev/null 2>&1; then run_as=postgres; else run_as=nobody; fi
fi
as_owner() {
  if [ -n "$run_as" ]; then runuser -u "$run_as" -- "$@"; else "$@"; fi
}

server_answers() { # host port
  local psql
  if psql=$(psql_bin); then
    PGCONNECT_TIMEOUT=3 "$psql" -X -q -w -h "$1" -p "$2" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1
  elif [ -n "$bindir" ] && [ -x "$bindir/pg_isready" ]; then
    "$bindir/pg_isready" -q -h "$1" -p "$2" -t 3
  else
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
  fi
}

start_cluster() {
  [ -n "$bindir" ] || die "no PostgreSQL server binaries (initdb, pg_ctl) found; install PostgreSQL >= 15 or set DATABASE_URL"
  local data="$cluster_dir/data"
  mkdir -p "$cluster_dir"
  if [ -n "$run_as" ]; then
    chown "$run_as" "$cluster_dir"
    as_owner test -w "$cluster_dir" || die "user $run_as cannot write $cluster_dir (a parent folder is private); set OMNI_PG_DIR or DATABASE_URL"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating a throwaway cluster in $data"
    as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$cluster_dir/initdb.log" 2>&1 \
      || die "initdb failed; see $cluster_dir/initdb.log"
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 300
CONF
    if [ -n "$conf" ]; then
      cat "$conf" >>"$data/postgresql.conf"
    else
      # Speed over durability: this cluster holds nothing that must survive a crash.
      printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$data/postgresql.conf"
    fi
    if [ -n "$tls_dir" ]; then
      install -m 600 "$tls_dir/server.crt" "$tls_dir/server.key" "$data/"
      if [ -n "$run_as" ]; then chown "$run_as" "$data/server.crt" "$data/server.key"; fi
      printf 'ssl = on\n' >>"$data/postgresql.conf"
      # hostssl only: a client that does not encrypt is turned away.
      printf 'hostssl all all 127.0.0.1/32 trust\n' >"$data/pg_hba.conf"
    fi
  fi
  if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "starting the throwaway cluster on 127.0.0.1:$port"
    # The port asked for now wins over the one the cluster was created with.
    as_owner "$bindir/pg_ctl" -D "$data" -l "$cluster_dir/server.log" -o "-p $port" -w -t 60 start >/dev/null \
      || die "pg_ctl start failed; see $cluster_dir/server.log"
  fi
}

# The port the running throwaway cluster listens on (postmaster.pid's fourth line).
running_port() {
  sed -n 4p "$cluster_dir/data/postmaster.pid" 2>/dev/null
}

# Prints host:port of the server to use.
choose_server() {
  if [ -f "$cluster_dir/data/PG_VERSION" ] && [ -n "$bindir" ] && as_owner "$bindir/pg_ctl" -D "$cluster_dir/data" status >/dev/null 2>&1; then
    if [ "$(running_port)" != "$port" ]; then
      # OMNI_PG_PORT changed since the cluster started: move it rather than fail later.
      say "moving the throwaway cluster from port $(running_port) to $port"
      as_owner "$bindir/pg_ctl" -D "$cluster_dir/data" -w -t 60 stop -m fast >/dev/null \
        || die "pg_ctl stop failed; see $cluster_dir/server.log"
      start_cluster
    fi
    echo "127.0.0.1:$port"; return
  fi
  if [ -n "$probe" ] && server_answers "${probe%:*}" "${probe##*:}"; then
    echo "$probe"; return
  fi
  start_cluster
  echo "127.0.0.1:$port"
}

ensure_database() { # host port dbname
  [ "$3" = postgres ] && return 0
  local psql
  psql=$(psql_bin) || die "psql not found; create database $3 yourself or set DATABASE_URL"
  if [ -z "$("$psql" -X -w -h "$1" -p "$2" -U postgres -d postgres -tAc "select 1 from pg_database where datname = '$3'")" ]; then
    "$psql" -X -q -w -h "$1" -p "$2" -U postgres -d postgres -c "create database \"$3\"" >/dev/null
  fi
}

cmd=${1:-url}
case "$cmd" in
  url)
    db=${2:-postgres}
    if [ -n "${DATABASE_URL:-}" ]; then
      # Same server, the requested database.
      base=${DATABASE_URL%%\?*}; query=${DATABASE_URL#"$base"}
      echo "${base%/*}/$db$query"
      exit 0
    fi
    server=$(choose_server)
    ensure_database "${server%:*}" "${server##*:}" "$db"
    echo "postgres://postgres@$server/$db"
    ;;
  stop)
    if [ -n "$bindir" ] && [ -f "$cluster_dir/data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$cluster_dir/data" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$cluster_dir/data" -m fast -w stop >/dev/null
      say "stopped the throwaway cluster"
    else
      say "no throwaway cluster is running"
    fi
    ;;
  status)
    if [ -n "${DATABASE_URL:-}" ]; then say "DATABASE_URL is set"; else say "would use $(choose_server)"; fi
    ;;
  *) die "usage: $0 url [DBNAME] | stop | status" ;;
esac
