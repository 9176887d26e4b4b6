#!/usr/bin/env bash
# Issue 16's figures on one machine, all on loopback: a nats-server with JetStream, PostgreSQL, the
# archive (aperture run --role archive) and two camera instances (north, south) with simulated
# 2048x2048 cameras exporting to it, each in a scratch directory. Prints:
#   - export throughput (MB/s, frames/s) of one instance against a plain JetStream publish of the
#     same files from the same C client (aperture-bench-jetstream), ROUNDS rounds, and of both
#     instances at once;
#   - the lag from a frame's fsync on its camera host to its row committed centrally, p50/p99;
#   - NATS stopped for OUTAGE_SECONDS while each camera saves OUTAGE_FRAMES frames, then started:
#     the catch-up time and the SCENARIO line; the same with NATS killed (SIGKILL);
#   - the archive killed with SIGKILL mid-ingest (its supervisor restarts it): the SCENARIO line.
# Each scenario ends with `SCENARIO: rows R/E, files F/E, duplicates D, hash mismatches M`.
# The archive runs with archive.ack_wait = 10 s (default 90 s): after its crash, the messages it
# held come again after that long, which the archive-kill catch-up time includes.
#
# Usage: Benchmarks/scale-out.sh [--bin-dir DIR] [--frames N] [--rounds R] [--lag-frames N]
#                                [--outage-frames N] [--outage-seconds S] [--kill-outage-seconds S]
# Build first: swift build -c release --scratch-path .build-bench (the default --bin-dir is
# .build-bench/release). Needs nats-server and postgresql-15 (scripts/install-deps.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.build-bench/release
FRAMES=40
ROUNDS=3
LAG_FRAMES=30
OUTAGE_FRAMES=100
OUTAGE_SECONDS=120
KILL_OUTAGE_SECONDS=30
SIZE=2048
while (( $# )); do
    case "$1" in
        --bin-dir) BIN=$2; shift 2 ;;
        --frames) FRAMES=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --lag-frames) LAG_FRAMES=$2; shift 2 ;;
        --outage-frames) OUTAGE_FRAMES=$2; shift 2 ;;
        --outage-seconds) OUTAGE_SECONDS=$2; shift 2 ;;
        --kill-outage-seconds) KILL_OUTAGE_SECONDS=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
for program in aperture aperture-catalog aperture-archive aperture-bench-jetstream; do
    [[ -x $BIN/$program ]] || { echo "scale-out: $BIN/$program is missing: swift build -c release --scratch-path .build-bench" >&2; exit 1; }
done
PGBIN=/usr/lib/postgresql/15/bin
command -v nats-server >/dev/null || [[ -x /usr/sbin/nats-server ]] || { echo "scale-out: nats-server is missing (scripts/install-deps.sh --test)" >&2; exit 1; }
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)

SCRATCH=$(mktemp -d /tmp/aperture-scale-out-XXXXXX)
chmod 755 "$SCRATCH"
declare -A SUPERVISOR
ARCHIVE_PID=""
NATS_PID=""

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_postgres() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
    set +e
    for name in "${!SUPERVISOR[@]}"; do kill -TERM "${SUPERVISOR[$name]}" 2>/dev/null; done
    [[ -n $ARCHIVE_PID ]] && kill -TERM "$ARCHIVE_PID" 2>/dev/null
    sleep 2
    pkill -KILL -f "$SCRATCH" 2>/dev/null
    [[ -n $NATS_PID ]] && kill -KILL "$NATS_PID" 2>/dev/null
    as_postgres "$PGBIN/pg_ctl" -D "$SCRATCH/pg/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        (( SECONDS < deadline )) || { echo "scale-out: $what did not happen within $limit s" >&2; exit 1; }
        sleep 0.2
    done
}

# --- NATS with JetStream ------------------------------------------------------------------------
NATS_PORT=$(free_port)
NATS_URL=nats://127.0.0.1:$NATS_PORT
start_nats() {
    "$NATS" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$SCRATCH/nats" -l "$SCRATCH/nats.log" &
    NATS_PID=$!
    wait_for 20 "nats-server's start" bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT"
}
start_nats

# --- PostgreSQL ---------------------------------------------------------------------------------
PG_PORT=$(free_port)
mkdir -p "$SCRATCH/pg"
[[ $(id -u) -eq 0 ]] && chown postgres "$SCRATCH/pg"
as_postgres "$PGBIN/initdb" -D "$SCRATCH/pg/data" -A trust -U aperture >/dev/null
as_postgres "$PGBIN/pg_ctl" -D "$SCRATCH/pg/data" -l "$SCRATCH/pg/log" -w \
    -o "-p $PG_PORT -k $SCRATCH/pg -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
PSQL_ARGS="-h 127.0.0.1 -p $PG_PORT -U aperture -d aperture"
"$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U aperture aperture
rows() { psql $PSQL_ARGS -At -c "SELECT count(*) FROM frames" 2>/dev/null || echo 0; }

# --- The archive --------------------------------------------------------------------------------
ARCHIVE_PORT=$(free_port)
start_archive() {
    env APERTURE_ARCHIVE_ROOT="$SCRATCH/archive" APERTURE_ARCHIVE_POSTGRES_URL="postgres://aperture@127.0.0.1:$PG_PORT/aperture" \
        APERTURE_ARCHIVE_LISTEN="127.0.0.1:$ARCHIVE_PORT" APERTURE_NATS_URL="$NATS_URL" \
        APERTURE_STATE_DIRECTORY="$SCRATCH/archive-state" \
        APERTURE_ARCHIVE_INCOMPLETE_TIMEOUT=5 APERTURE_ARCHIVE_ACK_WAIT=10 \
        "$BIN/aperture" run --role archive --runtime-dir "$SCRATCH/archive-run" >"$SCRATCH/archive.log" 2>&1 &
    ARCHIVE_PID=$!
    wait_for 60 "the archive's start" curl -sf "http://127.0.0.1:$ARCHIVE_PORT/healthz"
}

# --- Two camera instances -----------------------------------------------------------------------
declare -A PORT
start_instance() {  # start_instance NAME
    local name=$1
    PORT[$name]=$(free_port)
    env APERTURE_GATEWAY_LISTEN="127.0.0.1:${PORT[$name]}" APERTURE_ALPACA_PORT=0 APERTURE_ALPACA_DISCOVERY=off \
        APERTURE_STATE_DIRECTORY="$SCRATCH/$name/state" APERTURE_DATA_ROOT="$SCRATCH/$name/data" \
        APERTURE_CAMERA_TIME_SCALE=0.001 APERTURE_CAMERA_WIDTH="$SIZE" APERTURE_CAMERA_HEIGHT="$SIZE" APERTURE_PROCESSOR_AUTOSTART=false \
        APERTURE_EXPORT_ENABLED=true APERTURE_NATS_URL="$NATS_URL" APERTURE_SITE_NAME=bench APERTURE_CAMERA_NAME="$name" \
        "$BIN/aperture" --runtime-dir "$SCRATCH/$name/run" >"$SCRATCH/$name.log" 2>&1 &
    SUPERVISOR[$name]=$!
    wait_for 60 "$name's start" curl -sf "http://127.0.0.1:${PORT[$name]}/healthz"
    wait_for 30 "$name's export" curl -sf "http://127.0.0.1:${PORT[$name]}/v1/export"
}
fits_files() { find "$SCRATCH/$1/data" -name '*.fits' 2>/dev/null | sort || true; }
api() { curl -sf -X "$2" -H 'Content-Type: application/json' ${3:+-d "$3"} "http://127.0.0.1:${PORT[$1]}$4"; }
export_field() { api "$1" GET "" /v1/export | python3 -c "import json, sys; print(json.load(sys.stdin)['$2'])"; }
take() {  # take NAME COUNT [SECONDS_PER_FRAME]: starts a series and waits until the camera saved it
    local name=$1 count=$2 time=${3:-0.01} before
    before=$(fits_files "$name" | grep -c . || true)
    api "$name" POST "{\"type\":\"object\",\"time\":$time,\"count\":$count}" /v1/exposures >/dev/null
    wait_for 900 "$name's $count frames" bash -c "(( \$(find '$SCRATCH/$name/data' -name '*.fits' | wc -l) >= $before + $count ))"
}
take_both() {  # take_both COUNT [SECONDS_PER_FRAME]: both cameras at once
    take north "$@" & local north=$!
    take south "$@" & local south=$!
    wait "$north" "$south"
}
backlog_is() { [[ $(export_field "$1" backlog_frames) == "$2" ]]; }

start_instance north
start_instance south
CHUNK=1044480  # export.chunk_bytes's default
echo "scale-out: nats $NATS_URL, PostgreSQL 127.0.0.1:$PG_PORT, instances north and south (${SIZE}x${SIZE}), load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. Export throughput against a plain JetStream publish (the archive not running yet) ------
echo
echo "== export throughput, one instance: $FRAMES frames of ${SIZE}x${SIZE} a round, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
    api north POST "" /v1/export/pause >/dev/null
    before=$(fits_files north)
    take north "$FRAMES"
    wait_for 120 "north's backlog of $FRAMES" backlog_is north "$FRAMES"
    files=$(comm -13 <(echo "$before") <(fits_files north))
    bytes=$(echo "$files" | xargs stat -c %s | python3 -c 'import sys; print(sum(int(line) for line in sys.stdin))')
    # The baseline runs at the catalog's priority (nice 10), as the exporter does. The processor
    # is off (processor.autostart = false): its analysis of the frames just taken would share
    # the cores with whichever of the two ran first.
    plain=$(nice -n 10 "$BIN/aperture-bench-jetstream" "$NATS_URL" "$CHUNK" 32 $files)
    plain_rate=$(echo "$plain" | sed -E 's/.*: ([0-9.]+) MB\/s.*/\1/')
    start=$(date +%s.%N)
    api north POST "" /v1/export/resume >/dev/null
    wait_for 600 "north's export of $FRAMES frames" backlog_is north 0
    end=$(export_field north last_acknowledged | python3 -c 'import sys, datetime; print(datetime.datetime.fromisoformat(sys.stdin.read().strip()).replace(tzinfo=datetime.timezone.utc).timestamp())')
    python3 - "$start" "$end" "$bytes" "$FRAMES" "$plain_rate" "$round" <<'EOF'
import sys
start, end, size, frames, plain, round_ = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
seconds = end - start
rate = size / seconds / 1e6
print(f"round {round_}: plain JetStream publish {plain:.1f} MB/s; export {rate:.1f} MB/s, {frames / seconds:.2f} frames/s "
      f"({seconds:.3f} s): {100 * rate / plain:.0f}% of plain")
EOF
done

echo
echo "== export throughput, both instances at once: $FRAMES frames each"
for name in north south; do api "$name" POST "" /v1/export/pause >/dev/null; done
take_both "$FRAMES"
for name in north south; do wait_for 120 "$name's backlog" backlog_is "$name" "$FRAMES"; done
both_bytes=$(( $(export_field north backlog_bytes) + $(export_field south backlog_bytes) ))
start=$(date +%s.%N)
for name in north south; do api "$name" POST "" /v1/export/resume >/dev/null; done
for name in north south; do wait_for 600 "$name's export" backlog_is "$name" 0; done
end=$(for name in north south; do export_field "$name" last_acknowledged; done | python3 -c 'import sys, datetime; print(max(datetime.datetime.fromisoformat(l.strip()).replace(tzinfo=datetime.timezone.utc).timestamp() for l in sys.stdin if l.strip()))')
python3 -c "import sys; s=$end-$start; print(f'two instances: {$both_bytes/s/1e6:.1f} MB/s, {2*$FRAMES/s:.2f} frames/s ({s:.3f} s)')"

# --- 2. Lag from fsync to the central commit -----------------------------------------------------
CHECK=(python3 Benchmarks/scale_out_check.py "--psql=$PSQL_ARGS" --archive-root "$SCRATCH/archive"
       --camera "bench/north=$SCRATCH/north/data" --camera "bench/south=$SCRATCH/south/data")
host_frames() { (fits_files north; fits_files south) | grep -c . || true; }
start_archive
total=$(host_frames)
start=$(date +%s.%N)
wait_for 900 "the archive's catch-up with $total frames" bash -c "[[ \$(psql $PSQL_ARGS -At -c 'SELECT count(*) FROM frames') == $total ]]"
python3 -c "print(f'the archive ingested the $total frames of the throughput rounds in {$(date +%s.%N)-$start:.1f} s')"
"${CHECK[@]}" --list-to "$SCRATCH/before" --name "SCENARIO (throughput rounds)" || true

echo
echo "== lag: each camera saves $LAG_FRAMES frames, one a second, while the archive runs"
take_both "$LAG_FRAMES" 1000
total=$(host_frames)
wait_for 300 "the archive's rows" bash -c "[[ \$(psql $PSQL_ARGS -At -c 'SELECT count(*) FROM frames') == $total ]]"
"${CHECK[@]}" --before "$SCRATCH/before" --list-to "$SCRATCH/before.next" --lag --name "SCENARIO (lag)" || true
mv "$SCRATCH/before.next" "$SCRATCH/before"

# --- 3. Outages of NATS --------------------------------------------------------------------------
outage() {  # outage SIGNAL SECONDS
    local signal=$1 pause=$2
    echo
    echo "== NATS stopped with SIG$signal for $pause s while each camera saves $OUTAGE_FRAMES frames"
    kill -"$signal" "$NATS_PID"
    wait "$NATS_PID" 2>/dev/null || true
    local stopped=$SECONDS
    take_both "$OUTAGE_FRAMES"
    echo "backlog while NATS is down: north $(export_field north backlog_frames), south $(export_field south backlog_frames) frames"
    while (( SECONDS < stopped + pause )); do sleep 1; done
    start_nats
    local started total
    started=$(date +%s.%N)
    total=$(host_frames)
    wait_for 900 "the catch-up" bash -c "[[ \$(psql $PSQL_ARGS -At -c 'SELECT count(*) FROM frames') == $total ]]"
    python3 -c "print(f'catch-up: {2*$OUTAGE_FRAMES} frames in {$(date +%s.%N)-$started:.1f} s after NATS returned')"
    "${CHECK[@]}" --before "$SCRATCH/before" --list-to "$SCRATCH/before.next" --name SCENARIO || true
    mv "$SCRATCH/before.next" "$SCRATCH/before"
}
outage TERM "$OUTAGE_SECONDS"
outage KILL "$KILL_OUTAGE_SECONDS"

# --- 4. The archive killed mid-ingest --------------------------------------------------------------
echo
echo "== the archive killed with SIGKILL mid-ingest ($OUTAGE_FRAMES frames a camera)"
initial=$(rows)
# The frames wait in the outboxes first, so that the kill comes with most of them still to ingest.
for name in north south; do api "$name" POST "" /v1/export/pause >/dev/null; done
take_both "$OUTAGE_FRAMES"
for name in north south; do wait_for 120 "$name's backlog" backlog_is "$name" "$OUTAGE_FRAMES"; done
for name in north south; do api "$name" POST "" /v1/export/resume >/dev/null; done
wait_for 300 "the first rows" bash -c "(( \$(psql $PSQL_ARGS -At -c 'SELECT count(*) FROM frames') > $initial + 10 ))"
victim=$(pgrep -f "aperture-archive.*$SCRATCH" | head -1)
kill -KILL "$victim"
echo "killed aperture-archive (pid $victim) at $(rows) rows"
killed=$(date +%s.%N)
total=$(host_frames)
wait_for 900 "the catch-up after the kill" bash -c "[[ \$(psql $PSQL_ARGS -At -c 'SELECT count(*) FROM frames') == $total ]]"
python3 -c "print(f'catch-up: every frame stored {$(date +%s.%N)-$killed:.1f} s after the kill')"
"$BIN/aperture" status --runtime-dir "$SCRATCH/archive-run" --json 2>/dev/null \
    | python3 -c 'import json, sys; c = [c for c in json.load(sys.stdin)["children"] if c["name"] == "archive"][0]; print("the archive child: restarts", c["restarts"], "pid", c.get("pid"))' || true
"${CHECK[@]}" --before "$SCRATCH/before" --name SCENARIO || true
