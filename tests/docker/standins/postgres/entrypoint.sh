#!/bin/sh
# First start: initialise the cluster with the user, password and database
# of the environment (as the official image does); then serve as postgres.
set -eu
PGPORT="${PGPORT:-5432}"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$PGDATA" /tmp/pgsock
chown postgres:postgres "$PGDATA" /tmp/pgsock
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
  chown postgres /tmp/pwfile
  as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pwfile \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f /tmp/pwfile
  # Unix socket only while initialising: the health check (TCP) must not pass yet.
  as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /tmp/pgsock -p $PGPORT" -w start
  as_postgres psql -h /tmp/pgsock -p "$PGPORT" -U "$POSTGRES_USER" -d postgres -q \
    -c "CREATE DATABASE \"$POSTGRES_DB\""
  as_postgres pg_ctl -D "$PGDATA" -w stop
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups \
  postgres -D "$PGDATA" -p "$PGPORT" -k /tmp/pgsock -c listen_addresses='127.0.0.1'
