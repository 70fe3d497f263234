#!/bin/sh
# Installs what `make run`, `make test` and `make bench` need beyond Go, on Debian:
# the PostgreSQL server binaries (for the private cluster), ffmpeg (the transcoder), npm
# (the transcoder's SQS test server installs itself with it) and Chromium (the web app's
# browser tests). Without root or apt-get it
# stops with the command to run.
set -eu

need=""
pg_found() {
	[ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ] && return 0
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
	done
	return 1
}
pg_found || need="$need postgresql"
# The catalog's search needs the RUM extension (schema/migrations/00010_search_rum.sql)
# in every server version whose binaries the private cluster may run (the newest of
# /usr/lib/postgresql/*/bin), and in pg_config's; Debian 12's PostgreSQL is 15.
for d in /usr/lib/postgresql/*/bin; do
	[ -x "$d/postgres" ] || continue
	v=$(basename "$(dirname "$d")")
	[ -e "/usr/share/postgresql/$v/extension/rum.control" ] || need="$need postgresql-$v-rum"
done
case "$need" in *postgresql*) ;; *)
	if command -v pg_config >/dev/null 2>&1 && [ ! -e "$(pg_config --sharedir)/extension/rum.control" ]; then
		v=$(pg_config --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
		need="$need postgresql-$v-rum"
	fi
esac
pg_found || need="$need postgresql-15-rum"
# The transcoder runs ffmpeg and ffprobe; its SQS tests install their server with npm.
{ command -v ffmpeg && command -v ffprobe; } >/dev/null 2>&1 || need="$need ffmpeg"
command -v npm >/dev/null 2>&1 || need="$need npm"
# The web app's browser tests drive Debian's Chromium.
[ -x /usr/bin/chromium ] || need="$need chromium"
# make bench drives the edge with wrk.
command -v wrk >/dev/null 2>&1 || need="$need wrk"

[ -z "$need" ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "missing:$need" >&2
	echo "install with: sudo apt-get update && sudo apt-get install -y$need" >&2
	exit 1
fi
echo "installing:$need" >&2
# The project starts its own private PostgreSQL; keep the package from creating and
# starting a system-wide cluster of its own.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
	mkdir -p /etc/postgresql-common
	echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
pg_found || { echo "PostgreSQL binaries still missing after apt-get install" >&2; exit 1; }
command -v ffmpeg >/dev/null 2>&1 || { echo "ffmpeg still missing after apt-get install" >&2; exit 1; }
