#!/usr/bin/env bash
# The archive's ingest rate (docs/performance.md, "The facility archive"): FRAMES frames of BYTES
# bytes are published to a scratch nats-server's stream in the export's format (chunks of 1 MiB
# less 4 KiB, then the row) while no archive runs; then `aperture run --role archive` starts on a
# scratch PostgreSQL and drains the stream. Prints the time from the archive's start to the last
# row committed, MB/s and frames/s, then checks what it stored:
#   SCENARIO: rows R/E, files F/E, duplicates D, hash mismatches M
#
#   Benchmarks/archive-ingest.sh [FRAMES (40)] [BYTES (8388608: a 2048x2048 16-bit frame)] [debug|release]
#
# Needs nats-server and PostgreSQL 15 (scripts/install-deps.sh --test); run as root (PostgreSQL
# runs as the postgres user) or as a user who may run initdb.
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-40}
bytes=${2:-8388608}
configuration=${3:-debug}
chunk=$(( (1 << 20) - 4096 ))
swift build -c "$configuration" --product aperture >/dev/null
swift build -c "$configuration" --product aperture-archive >/dev/null
swift build -c "$configuration" --product aperture-bench-archive >/dev/null
bin=$(swift build -c "$configuration" --show-bin-path)
pgbin=/usr/lib/postgresql/15/bin

scratch=$(mktemp -d /tmp/aperture-archive-bench.XXXXXX)
chmod 755 "$scratch"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_port=$(free_port)
nats_port=$(free_port)
http_port=$(free_port)
archive_pid=
nats_pid=
cleanup() {
    [[ -n "$archive_pid" ]] && kill "$archive_pid" 2>/dev/null && wait "$archive_pid" 2>/dev/null || true
    [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null || true
    as_postgres "$pgbin/pg_ctl" -D "$scratch/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT

mkdir -p "$scratch/pg" "$scratch/nats" "$scratch/run"
[[ $(id -u) == 0 ]] && chown postgres:postgres "$scratch/pg"
as_postgres "$pgbin/initdb" -D "$scratch/pg/data" -U aperture -A trust --no-sync -E UTF8 --locale C >/dev/null
as_postgres "$pgbin/pg_ctl" -D "$scratch/pg/data" -l "$scratch/pg/postgres.log" -w \
    -o "-h 127.0.0.1 -p $pg_port -k $scratch/pg" start >/dev/null
"$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U aperture archive
psql() { "$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U aperture -d archive -At -c "$1"; }

nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$scratch/nats" -l "$scratch/nats.log" &
nats_pid=$!
for _ in $(seq 100); do grep -q "Server is ready" "$scratch/nats.log" 2>/dev/null && break; sleep 0.1; done

"$bin/aperture-bench-archive" "nats://127.0.0.1:$nats_port" "$frames" "$bytes" "$chunk"

export APERTURE_NATS_URL="nats://127.0.0.1:$nats_port"
export APERTURE_ARCHIVE_POSTGRES_URL="postgres://aperture@127.0.0.1:$pg_port/archive"
export APERTURE_ARCHIVE_ROOT="$scratch/root"
export APERTURE_ARCHIVE_LISTEN="127.0.0.1:$http_port"
export APERTURE_LOG_LEVEL=warning
start=$(date +%s.%N)
"$bin/aperture" run --role archive --runtime-dir "$scratch/run" 2>"$scratch/archive.log" &
archive_pid=$!
for _ in $(seq 6000); do
    rows=$(psql "SELECT COUNT(*) FROM frames" 2>/dev/null || echo 0)
    [[ "$rows" == "$frames" ]] && break
    sleep 0.05
done
last=$(psql "SELECT EXTRACT(EPOCH FROM MAX(stored)) FROM frames")
python3 - "$start" "$last" "$frames" "$bytes" <<'PY'
import sys
start, last, frames, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seconds = last - start
print("ARCHIVE INGEST: %d frames of %d bytes in %.2f s from the archive's start: %.1f MB/s, %.1f frames/s"
      % (frames, size, seconds, frames * size / seconds / 1e6, frames / seconds))
PY
rows=$(psql "SELECT COUNT(*) FROM frames")
duplicates=$(psql "SELECT COUNT(*) - COUNT(DISTINCT (site, camera, path)) FROM frames")
files=0
mismatches=0
while IFS='|' read -r central sha; do
    if [[ -f "$scratch/root/$central" ]]; then
        files=$((files + 1))
        [[ $(sha256sum "$scratch/root/$central" | cut -d' ' -f1) == "$sha" ]] || mismatches=$((mismatches + 1))
    fi
done < <(psql "SELECT central_path, sha256 FROM frames")
echo "SCENARIO: rows $rows/$frames, files $files/$frames, duplicates $duplicates, hash mismatches $mismatches"
