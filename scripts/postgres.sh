#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, without systemd or a system-wide cluster
# (issue #19). The PostgreSQL registry tests need a real server: scripts/test.sh starts
# one with this script and exports its URL as $AIRLOCK_TEST_POSTGRES; Rust tests that need
# a private cluster run it themselves ($AIRLOCK_TEST_POSTGRES_SCRIPT).
#
#   bash scripts/postgres.sh start DIR [PORT]  initdb DIR if it holds no cluster yet, then start
#                                              it on 127.0.0.1:PORT only (default: the port in
#                                              DIR/port, else a free one), unix socket in DIR,
#                                              log in DIR/log; prints the URL on stdout
#   bash scripts/postgres.sh stop DIR          fast shutdown; no error if it is not running
#   bash scripts/postgres.sh url DIR           prints the URL of the cluster in DIR
#   bash scripts/postgres.sh database URL NAME (re)creates database NAME on the server at URL
#                                              (empty); prints its URL
#
# The URL is postgres://postgres@127.0.0.1:PORT/postgres (superuser `postgres`, trust
# authentication: for tests only). Only the URL goes to stdout; everything else to stderr.
# As root the cluster belongs to the `postgres` OS user (initdb and postgres refuse root);
# the binaries come from PATH, else the newest /usr/lib/postgresql/*/bin, else (as root)
# `apt-get install postgresql`.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR [PORT] | stop DIR | url DIR | database URL NAME" >&2
  exit 2
}

missing() {
  echo "error: the PostgreSQL registry tests need a PostgreSQL server: apt-get install -y postgresql (or export AIRLOCK_TEST_POSTGRES=postgres://USER@HOST:PORT/DB of a server the tests may create databases on)" >&2
  exit 1
}

is_root() { [ "$(id -u)" = 0 ]; }

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if is_root; then
    if command -v runuser >/dev/null 2>&1; then
      (cd / && runuser -u postgres -- "$@")
    else
      (cd / && su postgres -s /bin/sh -c 'exec "$0" "$@"' "$@")
    fi
  else
    "$@"
  fi
}

# Sets $bindir to a directory holding initdb, pg_ctl and postgres.
find_bindir() {
  bindir=
  local initdb pg_ctl d
  if initdb=$(command -v initdb) && pg_ctl=$(command -v pg_ctl); then
    d=$(dirname "$(readlink -f "$pg_ctl")")
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
      bindir=$d
      return
    fi
  fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
    bindir=$d
  fi
}

need_bindir() {
  find_bindir
  [ -n "$bindir" ] && return
  if is_root && command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: installing PostgreSQL (apt-get install postgresql)" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -qq postgresql || { apt-get update -qq && apt-get install -y -qq postgresql; }; } >&2 ||
      missing
    find_bindir
  fi
  [ -n "$bindir" ] || missing
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "error: postgres.sh found no free port" >&2
  exit 1
}

# As root, postgres must be able to reach DIR: temporary directories on the way (mktemp -d
# makes them 700) get o+x (search only); any other blocking directory is an error.
check_reachable() {
  is_root || return 0
  local d=$1 tmp
  tmp=$(readlink -f "${TMPDIR:-/tmp}")
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    if ! as_owner test -x "$d"; then
      case "$d/" in
        /tmp/?* | "$tmp"/?*) chmod o+x "$d" ;;
        *)
          echo "error: the postgres user cannot reach $d; put the cluster under /tmp or chmod o+x $d" >&2
          exit 1
          ;;
      esac
    fi
  done
}

url_of() { echo "postgres://postgres@127.0.0.1:$1/postgres"; }

running() { as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; }

sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

cmd=${1:-}
[ $# -ge 2 ] || usage

if [ "$cmd" = database ]; then
  [ $# -eq 3 ] || usage
  server=$2 name=$3
  [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || { echo "error: database name '$name' must be lowercase letters, digits and _" >&2; exit 1; }
  need_bindir
  psql=$bindir/psql
  [ -x "$psql" ] || psql=$(command -v psql) || missing
  PGOPTIONS="-c client_min_messages=warning" "$psql" -X -q -v ON_ERROR_STOP=1 -d "$server" \
    -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >&2
  # The same server and user, the new database: replace the path, keep any query.
  base=${server%%\?*} query=${server#"$base"}
  echo "${base%/*}/$name$query"
  exit 0
fi

dir=$(readlink -m "$2")

case "$cmd" in
  start)
    [ $# -le 3 ] || usage
    need_bindir
    mkdir -p "$dir"
    check_reachable "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      if is_root; then chown postgres: "$dir"; fi
      chmod 700 "$dir"
      echo "postgres.sh: initdb $dir ($bindir)" >&2
      # --no-sync: a test cluster need not survive an OS crash.
      if ! out=$(as_owner "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --no-sync 2>&1); then
        echo "$out" >&2
        echo "error: initdb $dir failed" >&2
        exit 1
      fi
    fi
    if running; then
      port=$(cat "$dir/port")
      echo "postgres.sh: already running on port $port" >&2
      url_of "$port"
      exit 0
    fi
    if [ $# -ge 3 ]; then
      port=$3
      fresh=0
    elif [ -s "$dir/port" ]; then
      port=$(cat "$dir/port")
      fresh=0
    else
      port=$(free_port)
      fresh=1
    fi
    log_size=$(stat -c %s "$dir/log" 2>/dev/null || echo 0)
    # A freshly picked port may be taken before postgres binds it: then try another one.
    for attempt in 1 2 3; do
      # The socket path must fit in sun_path (107 bytes); longer: TCP only.
      if [ $((${#dir} + 16)) -le 107 ]; then socket_dir=$dir; else socket_dir=; fi
      echo "$port" >"$dir/port"
      if as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/log" -w -t 60 -s \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $(sq "$socket_dir")" start >&2; then
        echo "postgres.sh: started $dir on 127.0.0.1:$port" >&2
        url_of "$port"
        exit 0
      fi
      [ "$fresh" = 1 ] && [ "$attempt" -lt 3 ] || break
      port=$(free_port)
    done
    echo "error: pg_ctl start failed for $dir (port $port); from $dir/log:" >&2
    tail -c +$((log_size + 1)) "$dir/log" 2>/dev/null | tail -n 30 >&2 || true
    exit 1
    ;;
  stop)
    [ $# -eq 2 ] || usage
    [ -f "$dir/PG_VERSION" ] || exit 0
    find_bindir
    [ -n "$bindir" ] || missing
    if running; then
      as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w -s stop >&2
    fi
    ;;
  url)
    [ $# -eq 2 ] || usage
    if [ ! -s "$dir/port" ]; then
      echo "error: no cluster started in $dir (no $dir/port)" >&2
      exit 1
    fi
    url_of "$(cat "$dir/port")"
    ;;
  *) usage ;;
esac
