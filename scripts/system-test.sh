#!/usr/bin/env bash
# The system test: Aperture under a real systemd.
#
# Builds the executables (or takes them from --bin-dir), makes a Debian 12 root file system
# with debootstrap (cached), installs Aperture into it with scripts/install.sh exactly as an
# operator would, boots it with systemd-nspawn and drives its systemd with nsenter. Then:
#   (a) `systemctl start aperture` returns with the unit active, its STATUS= line set, the
#       processes running as the user aperture; an exposure writes a FITS file to the data root
#   (b) the journal holds each process's native entries (PRIORITY, SYSLOG_IDENTIFIER,
#       APERTURE_* fields), `journalctl -t aperture-camera` shows the camera's
#   (c) kill -9 of the camera: a new camera, /healthz 200, the supervisor untouched
#   (d) kill -STOP of the supervisor: systemd's watchdog kills it and restarts the unit
#   (e) `systemctl stop aperture` stops the children in reverse order and leaves no process
#   (f) `systemd-analyze security` rates the unit below 2.5; `systemd-analyze verify` passes
#   (g) the template unit: aperture@north and aperture@south, each with its own
#       /etc/aperture/NAME.conf (distinct ports), both active (READY=1) at once; each takes a
#       frame whose FITS SITE/CAMERA are its own, and its catalog row says so; their runtime,
#       state and data directories are distinct; `systemd-analyze verify` and `security`
#       accept the template; stopping one leaves the other serving
# Prints one PASS or FAIL line per check and exits non-zero if any failed.
#
#   scripts/system-test.sh [--bin-dir DIR] [--keep]
#
#   --bin-dir DIR  use the executables in DIR instead of building them (a build that links the
#                  toolchain's libraries dynamically, such as .build/debug, works too: the
#                  toolchain's library directory is bind-mounted read-only into the container)
#   --keep         keep the container's root file system and logs (their path is printed)
#
# Environment:
#   APERTURE_ROOTFS_CACHE   where the pristine root file system is kept between runs
#                           (default $HOME/.cache/aperture-rootfs); delete it to rebuild
#   APERTURE_DEBIAN_MIRROR  the Debian mirror for debootstrap (default: the one apt uses here)
#
# Needs root, systemd-nspawn (systemd-container), debootstrap, nsenter, python3; installs what
# is missing with apt-get. Measured on 2 cores: 15 s with --bin-dir and a cached root file
# system; 4 min 12 s from nothing (release build 3 min 20 s, debootstrap 40 s).
# The container has its own network namespace: its 127.0.0.1:8000 is not this machine's.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin_dir=""
keep=0
while (( $# )); do
    case "$1" in
        --bin-dir) bin_dir=${2:?--bin-dir needs a directory}; shift 2 ;;
        --bin-dir=*) bin_dir=${1#*=}; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,38s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "system-test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

started=$(date +%s)
log() { printf '[%3ds] %s\n' "$(( $(date +%s) - started ))" "$*"; }
die() { echo "system-test: $*" >&2; exit 1; }

failures=0
passes=0
pass() { passes=$((passes + 1)); echo "PASS $*"; }
fail() { failures=$((failures + 1)); echo "FAIL $*"; }

# ---------------------------------------------------------------------------------------------
# Prerequisites.

(( $(id -u) == 0 )) || die "needs root (systemd-nspawn, debootstrap)"
missing=()
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v python3 >/dev/null || missing+=(python3)
if (( ${#missing[@]} )); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# ---------------------------------------------------------------------------------------------
# Clean-up: power the container off, remove the working directory.

nspawn_pid=""
init_pid=""
work=""
root=""
overlay=0
cleanup() {
    local status=$?
    if [[ -n "$init_pid" ]] && kill -0 "$init_pid" 2>/dev/null; then
        timeout 10 nsenter -t "$init_pid" -a systemctl poweroff >/dev/null 2>&1 || true
    fi
    if [[ -n "$nspawn_pid" ]]; then
        for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$nspawn_pid" 2>/dev/null; then
            kill -TERM "$nspawn_pid" 2>/dev/null || true
            sleep 3
            kill -KILL "$nspawn_pid" 2>/dev/null || true
        fi
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    if [[ -z "$work" ]]; then
        :
    elif (( keep )); then
        echo "system-test: kept $work (rootfs, console.log, install.log; umount $root when done)"
    else
        if (( overlay )); then umount "$root" 2>/dev/null || umount -l "$root" 2>/dev/null || true; fi
        if mountpoint -q "$root"; then
            echo "system-test: $root is still mounted; $work left in place" >&2
        else
            rm -rf "$work"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "system-test: unexpected failure (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

# ---------------------------------------------------------------------------------------------
# The executables.

executables=(aperture aperture-camera aperture-processor aperture-catalog aperture-gateway)
if [[ -z "$bin_dir" ]]; then
    # Static Swift standard library and Foundation: the binaries need only the C libraries
    # that the root file system installs (libnng1, libcfitsio10, libsqlite3-0, libnats3.4, libsystemd0).
    log "building release executables (--static-swift-stdlib, .build-sys)"
    build_log=$(mktemp)
    for product in "${executables[@]}"; do
        if ! (cd "$repo" && swift build -c release --static-swift-stdlib --scratch-path .build-sys \
                --product "$product") >"$build_log" 2>&1; then
            grep -E "error:" "$build_log" | head -n 20 >&2 || tail -n 20 "$build_log" >&2
            rm -f "$build_log"
            die "swift build of $product failed"
        fi
        log "$(tail -n 1 "$build_log")"
    done
    rm -f "$build_log"
    bin_dir="$repo/.build-sys/release"
fi
bin_dir=$(cd "$bin_dir" && pwd)
for name in "${executables[@]}"; do
    [[ -x "$bin_dir/$name" ]] || die "$bin_dir/$name is missing"
done

# ---------------------------------------------------------------------------------------------
# The root file system: debootstrap once, cached; each run writes to an overlay over it.

packages=systemd,systemd-sysv,dbus,libnng1,libcfitsio10,libsqlite3-0,libnats3.4,curl
debian_mirror() {
    if [[ -n "${APERTURE_DEBIAN_MIRROR:-}" ]]; then echo "$APERTURE_DEBIAN_MIRROR"; return; fi
    local found
    # The mirror apt uses here for bookworm: one-line sources first, then deb822 .sources.
    found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '
        $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                      if ($(i + 1) == "bookworm") { print $i; exit } }')
    if [[ -z "$found" ]]; then
        found=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
            BEGIN { RS = ""; FS = "\n" }
            { uris = ""; suites = ""
              for (i = 1; i <= NF; i++) {
                  if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
                  if ($i ~ /^Suites:/) { suites = $i " " }
              }
              if (suites ~ /[ \t]bookworm[ \t]/) { split(uris, u, /[ \t]+/); print u[1]; exit } }')
    fi
    echo "${found:-http://deb.debian.org/debian}"
}

cache=${APERTURE_ROOTFS_CACHE:-${HOME:-/root}/.cache/aperture-rootfs}
cache_key=$(echo "bookworm minbase $packages" | sha256sum | cut -c1-12)
pristine="$cache/bookworm-$cache_key"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ ! -e "$pristine/.complete" ]]; then
    mirror=$(debian_mirror)
    log "debootstrap bookworm from $mirror into $pristine (cached for later runs)"
    rm -rf "$pristine" "$pristine.partial"
    if ! debootstrap --variant=minbase --include="$packages" bookworm "$pristine.partial" "$mirror" \
            >"$cache/debootstrap.log" 2>&1; then
        tail -n 20 "$cache/debootstrap.log" >&2
        die "debootstrap failed (log: $cache/debootstrap.log)"
    fi
    # Keep downloaded packages out of the cache and out of every copy.
    rm -rf "$pristine.partial"/var/cache/apt/archives/*.deb
    touch "$pristine.partial/.complete"
    mv "$pristine.partial" "$pristine"
else
    log "root file system from the cache: $pristine"
fi
flock -u 9

work=$(mktemp -d /var/tmp/aperture-system-test.XXXXXX)
root="$work/rootfs"
# The container writes to an overlay over the cached tree (a copy where overlayfs is missing).
mkdir -p "$root" "$work/upper" "$work/overlay-work"
if mount -t overlay aperture-system-test -o "lowerdir=$pristine,upperdir=$work/upper,workdir=$work/overlay-work" "$root" 2>/dev/null; then
    overlay=1
else
    rmdir "$root"
    cp -a --reflink=auto "$pristine" "$root"
fi
rm -f "$root/.complete"

# ---------------------------------------------------------------------------------------------
# Install Aperture as an operator would (docs/operations.md), with a test configuration.

log "installing into the container with scripts/install.sh --root"
"$repo/scripts/install.sh" --bin-dir "$bin_dir" --root "$root" >"$work/install.log"
cat >>"$root/etc/aperture/aperture.conf" <<'EOF'

# --- scripts/system-test.sh ---
gateway.listen = 127.0.0.1:8000
# A short warm-up keeps `systemctl stop` quick: the camera gets max(5, 5 + 5) = 10 s.
camera.warmup_timeout = 5
# A small sensor keeps the test exposure quick.
camera.width = 256
camera.height = 256
EOF

# Libraries the executables need that the root file system does not have: the toolchain's
# (a build without --static-swift-stdlib) are bind-mounted read-only; anything else is an error.
binds=()
declare -A bound=()
for name in "${executables[@]}"; do
    while read -r library path; do
        [[ -n "$path" && ! -e "$root$path" ]] || continue
        dir=$(dirname "$path")
        case "$dir" in
            /lib|/lib/*|/lib64|/usr/lib|/usr/lib/*)
                die "$name needs $library ($path), which the container lacks: add its package to \$packages" ;;
        esac
        if [[ -z "${bound[$dir]:-}" ]]; then
            bound[$dir]=1
            binds+=("--bind-ro=$dir")
        fi
    done < <(ldd "$bin_dir/$name" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
done
(( ${#binds[@]} == 0 )) || log "bind-mounting ${binds[*]#--bind-ro=} read-only (dynamically linked executables)"

# ---------------------------------------------------------------------------------------------
# Boot the container.

log "booting the container (systemd-nspawn --boot, private network)"
systemd-nspawn --register=no --keep-unit --console=read-only --private-network \
    -D "$root" -M aperture-test "${binds[@]}" --boot >"$work/console.log" 2>&1 &
nspawn_pid=$!

for _ in $(seq 1 100); do
    init_pid=$(ps -o pid= --ppid "$nspawn_pid" 2>/dev/null | head -n 1 | tr -d ' ' || true)
    [[ -n "$init_pid" && "$(cat "/proc/$init_pid/comm" 2>/dev/null)" == systemd ]] && break
    init_pid=""
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/console.log" >&2; die "systemd-nspawn exited"; }
    sleep 0.1
done
[[ -n "$init_pid" ]] || { cat "$work/console.log" >&2; die "the container's init did not start"; }

# Runs a command inside the container, with a clean environment, for at most $1 seconds.
inside_for() {
    local seconds=$1
    shift
    timeout "$seconds" nsenter -t "$init_pid" -a env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}
inside() { inside_for 30 "$@"; }
# Waits up to $1 seconds for a command to succeed.
wait_until() {
    local deadline=$(( $(date +%s%N) + $1 * 1000000000 ))
    shift
    until "$@"; do
        (( $(date +%s%N) < deadline )) || return 1
        sleep 0.2
    done
}
booted() { [[ "$(inside systemctl is-system-running 2>/dev/null)" =~ ^(running|degraded)$ ]]; }
wait_until 60 booted || { tail -n 30 "$work/console.log" >&2; die "the container did not finish booting"; }
log "container up: init pid $init_pid (host), $(inside systemctl is-system-running || true)"

# What the operator runs after install.sh (docs/operations.md).
inside systemd-sysusers
inside systemd-tmpfiles --create /usr/lib/tmpfiles.d/aperture.conf
inside systemctl daemon-reload

# Service helpers.
show() { inside systemctl show -p "$1" --value aperture.service; }
# Pids (in the container) of the processes whose command line starts with $1.
pids_of() {
    inside sh -c 'for p in /proc/[0-9]*; do
        cmd=$(tr "\0" " " <"$p/cmdline" 2>/dev/null) || continue
        case "$cmd" in "$1"*) echo "${p#/proc/}" ;; esac
    done' sh "$1"
}
healthz_code() { inside curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:8000/healthz || true; }
healthy() { [[ "$(healthz_code)" == 200 ]]; }
# The cursor at the end of the journal, to read only what follows.
journal_cursor() { inside journalctl -n 0 --show-cursor | sed -n 's/^-- cursor: //p'; }
journal_since() { local cursor=$1; shift; inside journalctl --no-pager --after-cursor="$cursor" "$@"; }
dump_unit() {
    echo "---- systemctl status aperture"; inside systemctl status --no-pager -l aperture.service | head -n 20 || true
    echo "---- journalctl -u aperture (last 30)"; inside journalctl -u aperture.service -n 30 --no-pager || true
}

# ---------------------------------------------------------------------------------------------
# (a) Start.

t0=$(date +%s%N)
if inside_for 120 systemctl start aperture.service; then
    start_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    if [[ "$(inside systemctl is-active aperture.service)" == active ]]; then
        pass "(a) systemctl start aperture returned after ${start_ms} ms; the unit is active"
    else
        fail "(a) systemctl start returned but the unit is $(inside systemctl is-active aperture.service)"; dump_unit
    fi
else
    fail "(a) systemctl start aperture failed"; dump_unit
fi
status_text=$(show StatusText)
if [[ -n "$status_text" ]]; then
    pass "(a) StatusText: $status_text"
else
    fail "(a) StatusText is empty"
fi
main_pid=$(show MainPID)
users=$(inside sh -c 'for p in "$@"; do stat -c %U "/proc/$p"; done' sh \
        $(pids_of /usr/local/bin/aperture) 2>/dev/null | sort -u | tr '\n' ' ' || true)
count=$(pids_of /usr/local/bin/aperture | wc -l)
if [[ "$users" == "aperture " && "$count" == 5 ]]; then
    pass "(a) the supervisor and its 4 children run as the user aperture"
else
    fail "(a) $count processes, running as: ${users:-nobody}"
fi
echo "---- systemctl status aperture"
inside systemctl status --no-pager aperture.service | sed '/^$/q' | cut -c1-150 || true
# The operator's view (docs/operations.md): `aperture status` over supervisor.ctl.
if table=$(inside aperture status --runtime-dir /run/aperture 2>&1) \
        && [[ $(grep -cE '^(camera|processor|catalog|gateway) +running' <<<"$table") == 4 ]]; then
    pass "(a) aperture status --runtime-dir /run/aperture: 4 children running"
    sed 's/^/    /' <<<"$table"
else
    fail "(a) aperture status: $table"
fi

# An exposure under the hardened unit: the camera writes under ProtectSystem=strict through
# ReadWritePaths=, with UMask=0027.
if exposure=$(inside_for 60 aperture camera expose --config /etc/aperture/aperture.conf \
        --runtime-dir /run/aperture --type bias --time 0 --wait 2>&1); then
    file=$(echo "$exposure" | grep -o '/srv/aperture/data/[^ ]*\.fits' | head -n 1)
    owner=$( [[ -n "$file" ]] && inside stat -c '%U:%G %a' "$file" || true)
    if [[ "$owner" == "aperture:aperture 640" ]]; then
        pass "(a) an exposure wrote $file ($owner)"
    else
        fail "(a) exposure output '$exposure'; file '$file' is '${owner:-missing}'"
    fi
else
    fail "(a) aperture camera expose failed: $exposure"
fi

# ---------------------------------------------------------------------------------------------
# (b) The journal.

check_journal() { # LABEL IDENTIFIER... ; reads journalctl -o json on stdin
    python3 -c '
import json, sys
label, wanted = sys.argv[1], sys.argv[2:]
entries = [json.loads(line) for line in sys.stdin if line.strip()]
problems = []
if not entries:
    problems.append("no entries")
for e in entries:
    if "PRIORITY" not in e or "SYSLOG_IDENTIFIER" not in e:
        problems.append("an entry without PRIORITY or SYSLOG_IDENTIFIER: %r" % e.get("MESSAGE"))
        break
ids = {e.get("SYSLOG_IDENTIFIER") for e in entries}
if not set(wanted) <= ids:
    problems.append("identifiers %s, missing %s" % (sorted(map(str, ids)), sorted(set(wanted) - ids)))
# libdispatch reports through syslog(3) that an unprivileged process may not raise a worker
# thread priority (errno 13): harmless, and outside the Aperture logging. Anything else that
# bypasses the native protocol (a print to stderr, a stream fallback) is a failure.
libdispatch = "Failed to set thread priority for worker thread"
if label == "camera":
    native = [e for e in entries if e.get("_TRANSPORT") == "journal"]
    stray = [e for e in entries if e.get("_TRANSPORT") != "journal" and not str(e.get("MESSAGE", "")).startswith(libdispatch)]
    if not native:
        problems.append("no entry came through the native protocol")
    for e in stray[:3]:
        problems.append("not native (%s): %r" % (e.get("_TRANSPORT"), e.get("MESSAGE")))
    fielded = [e for e in entries if any(k.startswith("APERTURE_") for k in e)]
    if not fielded:
        problems.append("no entry with an APERTURE_* field")
if problems:
    print("; ".join(problems)); sys.exit(1)
if label == "camera":
    e = next((e for e in fielded if "APERTURE_EXPOSURE_ID" in e), fielded[0])
    fields = " ".join("%s=%s" % (k, e[k]) for k in sorted(e) if k.startswith("APERTURE_"))
    print("%d native entries, e.g. PRIORITY=%s SYSLOG_IDENTIFIER=%s %s MESSAGE=%s"
          % (len(native), e["PRIORITY"], e["SYSLOG_IDENTIFIER"], fields, e.get("MESSAGE")))
else:
    print("%d entries from %s" % (len(entries), ", ".join(sorted(ids))))
' "$@"
}
if result=$(inside journalctl -t aperture-camera -o json --no-pager | check_journal camera aperture-camera); then
    pass "(b) journalctl -t aperture-camera: $result"
else
    fail "(b) journalctl -t aperture-camera: $result"
fi
if result=$(inside journalctl -u aperture.service -o json --no-pager \
        | check_journal unit aperture aperture-camera aperture-processor aperture-catalog aperture-gateway); then
    pass "(b) journalctl -u aperture: $result"
else
    fail "(b) journalctl -u aperture: $result"
fi
echo "---- journalctl -t aperture-camera (last 5)"
inside journalctl -t aperture-camera -n 5 --no-pager || true

# ---------------------------------------------------------------------------------------------
# (c) kill -9 of the camera.

camera_pid=$(pids_of /usr/local/bin/aperture-camera | head -n 1)
restarts_before=$(show NRestarts)
if [[ -z "$camera_pid" ]]; then
    fail "(c) no aperture-camera process"
else
    t0=$(date +%s%N)
    inside sh -c 'kill -9 "$1"' sh "$camera_pid" || true
    new_camera() { local p; p=$(pids_of /usr/local/bin/aperture-camera | head -n 1); [[ -n "$p" && "$p" != "$camera_pid" ]]; }
    if wait_until 15 new_camera; then
        respawn_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        if wait_until 15 healthy; then
            healthy_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
            pass "(c) camera $camera_pid killed: new camera $(pids_of /usr/local/bin/aperture-camera | head -n 1) within ${respawn_ms} ms, /healthz 200 after ${healthy_ms} ms"
        else
            fail "(c) new camera, but /healthz answers $(healthz_code)"
            echo "---- /healthz"; inside curl -s --max-time 3 http://127.0.0.1:8000/healthz || true; echo
            echo "---- aperture status"; inside aperture status --runtime-dir /run/aperture 2>&1 || true
            echo "---- journalctl -u aperture (last 40)"; inside journalctl -u aperture.service -n 40 --no-pager || true
        fi
    else
        fail "(c) no new camera within 15 s of kill -9 $camera_pid"; dump_unit
    fi
    if [[ "$(show MainPID)" == "$main_pid" && "$(show NRestarts)" == "$restarts_before" ]]; then
        pass "(c) the supervisor (pid $main_pid) kept running; the unit was not restarted"
    else
        fail "(c) the unit restarted (MainPID $main_pid -> $(show MainPID))"
    fi
fi

# ---------------------------------------------------------------------------------------------
# (d) kill -STOP of the supervisor: the watchdog.

watchdog_usec=$(show WatchdogUSec)
cursor=$(journal_cursor)
main_pid=$(show MainPID)
restarts_before=$(show NRestarts)
restarted() {
    local pid; pid=$(show MainPID)
    [[ "$pid" != 0 && "$pid" != "$main_pid" && "$(inside systemctl is-active aperture.service)" == active ]]
}
if [[ ! "$main_pid" =~ ^[0-9]+$ ]] || (( main_pid <= 1 )); then
    # Never `kill -STOP 0`: that would stop this very command's process group.
    fail "(d) the unit has no main process to stop (MainPID=${main_pid:-none})"
elif t0=$(date +%s%N) && ! inside sh -c 'kill -STOP "$1"' sh "$main_pid"; then
    fail "(d) kill -STOP $main_pid failed"
elif wait_until 90 restarted; then
    back_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    timeout_line=$(journal_since "$cursor" -u aperture.service -o cat | grep -m 1 "Watchdog timeout" || true)
    if [[ -n "$timeout_line" ]]; then
        pass "(d) SIGSTOP of the supervisor $main_pid: \"$timeout_line\" (WatchdogSec=$watchdog_usec)"
    else
        fail "(d) the unit restarted, but the journal has no \"Watchdog timeout\""
        journal_since "$cursor" -u aperture.service -n 20 -o short-monotonic || true
    fi
    if [[ "$(show NRestarts)" -gt "$restarts_before" ]]; then
        pass "(d) restarted by systemd (Restart=on-failure): new supervisor $(show MainPID), active again ${back_ms} ms after SIGSTOP"
    else
        fail "(d) NRestarts did not grow ($restarts_before -> $(show NRestarts))"
    fi
    if wait_until 20 healthy; then
        pass "(d) after the restart /healthz answers 200"
    else
        fail "(d) after the restart /healthz answers $(healthz_code)"
    fi
else
    fail "(d) no restart within 90 s of SIGSTOP (MainPID $(show MainPID), $(inside systemctl is-active aperture.service))"
    dump_unit
    inside sh -c 'kill -CONT "$1"' sh "$main_pid" 2>/dev/null || true
fi
if [[ "$main_pid" =~ ^[0-9]+$ ]] && (( main_pid > 1 )) && inside test -e "/proc/$main_pid"; then
    fail "(d) the stopped supervisor $main_pid is still there"
fi

# ---------------------------------------------------------------------------------------------
# (e) Stop.

cursor=$(journal_cursor)
t0=$(date +%s%N)
if inside_for 200 systemctl stop aperture.service; then
    stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    state=$(inside systemctl is-active aperture.service || true)
    left=$(pids_of /usr/local/bin/aperture | tr '\n' ' ')
    if [[ "$state" == inactive && -z "$left" ]]; then
        pass "(e) systemctl stop returned after ${stop_ms} ms; unit inactive, no aperture process left"
    else
        fail "(e) after stop: unit $state, processes left: ${left:-none}"
    fi
    order=$(journal_since "$cursor" -t aperture -o cat | sed -n 's/^stopping \(camera\|processor\|catalog\|gateway\)$/\1/p' | tr '\n' ' ')
    if [[ "$order" == "gateway catalog processor camera " ]]; then
        pass "(e) children stopped in order: $order"
    else
        fail "(e) stop order: '${order}' (want gateway catalog processor camera)"
        journal_since "$cursor" -u aperture.service -o cat | tail -n 20 || true
    fi
    kills=$(journal_since "$cursor" -u aperture.service -o cat | grep -ciE "SIGKILL|Killing process" || true)
    if (( kills == 0 )); then
        pass "(e) nothing needed SIGKILL"
    else
        fail "(e) $kills SIGKILL(s) during stop"
        journal_since "$cursor" -u aperture.service -o cat | grep -iE "SIGKILL|Killing process" || true
    fi
else
    fail "(e) systemctl stop aperture failed or took more than 200 s"; dump_unit
fi

# ---------------------------------------------------------------------------------------------
# (f) systemd-analyze.

analysis=$(inside systemd-analyze security --no-pager aperture.service 2>&1 || true)
echo "---- systemd-analyze security aperture.service (what is exposed)"
awk '/^✗/ { printf "  %-45s %s\n", $2, $NF }' <<<"$analysis" || true
security=$(tail -n 1 <<<"$analysis")
score=$(echo "$security" | grep -oE '[0-9]+\.[0-9]+' | head -n 1)
if [[ -n "$score" ]] && awk -v s="$score" 'BEGIN { exit !(s < 2.5) }'; then
    pass "(f) systemd-analyze security: $security"
else
    fail "(f) systemd-analyze security: ${security:-no output} (want below 2.5)"
fi
if verify=$(inside systemd-analyze verify /etc/systemd/system/aperture.service 2>&1) \
        && ! grep -q "aperture" <<<"$verify"; then
    pass "(f) systemd-analyze verify aperture.service"
else
    fail "(f) systemd-analyze verify: $verify"
fi
if verify=$(inside systemd-analyze verify /etc/systemd/system/aperture-archive.service 2>&1) \
        && ! grep -q "aperture" <<<"$verify"; then
    pass "(f) systemd-analyze verify aperture-archive.service"
else
    fail "(f) systemd-analyze verify aperture-archive.service: $verify"
fi

# ---------------------------------------------------------------------------------------------
# (g) Several cameras on one host: the template unit aperture@.service.

# Each instance's configuration, from config/instance-example.conf as an operator would start.
declare -A http_port=([north]=8001 [south]=8002) alpaca_port=([north]=11111 [south]=11112)
for name in north south; do
    sed -e "s|^gateway.listen = .*|gateway.listen = 127.0.0.1:${http_port[$name]}|" \
        -e "s|^alpaca.port = .*|alpaca.port = ${alpaca_port[$name]}|" \
        "$repo/config/instance-example.conf" >"$root/etc/aperture/$name.conf"
    printf '%s\n' "# --- scripts/system-test.sh ---" "camera.warmup_timeout = 5" "camera.width = 256" \
        "camera.height = 256" >>"$root/etc/aperture/$name.conf"
done
instance_active() { [[ "$(inside systemctl is-active "aperture@$1.service")" == active ]]; }
instance_healthy() {
    [[ "$(inside curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:${http_port[$1]}/healthz" || true)" == 200 ]]
}
# FITS SITE/CAMERA of a file in the container, read on this side from its header cards.
fits_identity() {
    python3 -c '
import sys
values = {}
with open(sys.argv[1], "rb") as f:
    while True:
        block = f.read(2880)
        if len(block) < 2880:
            break
        for i in range(0, 2880, 80):
            card = block[i:i + 80].decode("ascii")
            if card[:8].strip() in ("SITE", "CAMERA") and card[8:10] == "= ":
                values[card[:8].strip()] = card[10:].split("/")[0].strip().strip("\x27").strip()
            if card[:8] == "END     ":
                print("%s/%s" % (values.get("SITE", "-"), values.get("CAMERA", "-")))
                sys.exit(0)
' "$root$1"
}
t0=$(date +%s%N)
if inside_for 120 systemctl start aperture@north.service aperture@south.service \
        && instance_active north && instance_active south; then
    pass "(g) systemctl start aperture@north aperture@south: both active (READY=1) after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
else
    fail "(g) aperture@north $(inside systemctl is-active aperture@north.service || true), aperture@south $(inside systemctl is-active aperture@south.service || true)"
    inside journalctl -u aperture@north.service -u aperture@south.service -n 40 --no-pager || true
fi
count=$(pids_of /usr/local/bin/aperture | wc -l)
if [[ "$count" == 10 ]]; then
    pass "(g) 10 processes: a supervisor and 4 children per instance"
else
    fail "(g) $count aperture processes (want 10)"
fi
for name in north south; do
    if exposure=$(inside_for 60 aperture camera expose --config "/etc/aperture/$name.conf" \
            --runtime-dir "/run/aperture/$name" --type bias --time 0 --wait 2>&1); then
        file=$(echo "$exposure" | grep -o "/srv/aperture/[^ ]*\.fits" | head -n 1)
        identity=$( [[ -n "$file" ]] && fits_identity "$file" || true)
        # The data root made by ExecStartPre=+install: 0750 aperture; the file 0640 (UMask=0027).
        owners=$( [[ -n "$file" ]] && inside stat -c '%U:%G %a' "/srv/aperture/$name/data" "$file" | tr '\n' ' ' || true)
        if [[ "$file" == /srv/aperture/$name/data/* && "$identity" == "mro/$name" \
                && "$owners" == "aperture:aperture 750 aperture:aperture 640 " ]]; then
            pass "(g) aperture@$name wrote $file with SITE/CAMERA $identity (data root and file: $owners)"
        else
            fail "(g) aperture@$name: file '$file', SITE/CAMERA '${identity:-unreadable}', owners '$owners' (want under /srv/aperture/$name/data, mro/$name, aperture:aperture 750/640)"
        fi
    else
        fail "(g) aperture@$name: expose failed: $exposure"
    fi
done
# The catalog rows, through each gateway: its own camera, and no row of the other.
rows_of() { inside curl -s --max-time 5 "http://127.0.0.1:${http_port[$1]}/v1/frames?camera=$2"; }
for name in north south; do
    other=$([[ $name == north ]] && echo south || echo north)
    got_row() { [[ "$(rows_of "$name" "$name")" == *"\"camera\":\"$name\""* ]]; }
    if wait_until 20 got_row && [[ "$(rows_of "$name" "$other")" == *'"frames":[]'* ]]; then
        pass "(g) aperture@$name's catalog: its frame with camera $name, none with camera=$other"
    else
        fail "(g) aperture@$name's catalog: camera=$name: $(rows_of "$name" "$name" | cut -c1-200); camera=$other: $(rows_of "$name" "$other" | cut -c1-100)"
    fi
done
# Nothing shared: runtime (sockets, frame ring), state (catalog, UniqueIDs), data.
dirs_ok=1
for name in north south; do
    for path in "/run/aperture/$name/camera.ctl" "/run/aperture/$name/camera.frames" \
            "/var/lib/aperture/$name/catalog.sqlite" "/var/lib/aperture/$name/alpaca-camera-0.uniqueid" \
            "/srv/aperture/$name/data"; do
        inside test -e "$path" || { dirs_ok=0; echo "    missing: $path"; }
    done
done
north_id=$(inside cat /var/lib/aperture/north/alpaca-camera-0.uniqueid 2>/dev/null || true)
south_id=$(inside cat /var/lib/aperture/south/alpaca-camera-0.uniqueid 2>/dev/null || true)
if (( dirs_ok )) && [[ -n "$north_id" && "$north_id" != "$south_id" ]]; then
    pass "(g) distinct /run/aperture/NAME, /var/lib/aperture/NAME (catalog; Alpaca UniqueID $north_id vs $south_id), /srv/aperture/NAME/data"
else
    fail "(g) directories or UniqueIDs shared (north '$north_id', south '$south_id')"
fi
if result=$(inside journalctl -t aperture-camera@south -o json --no-pager | check_journal unit aperture-camera@south); then
    pass "(g) journalctl -t aperture-camera@south: $result"
else
    fail "(g) journalctl -t aperture-camera@south: $result"
fi
if verify=$(inside systemd-analyze verify aperture@north.service 2>&1) && ! grep -q "aperture" <<<"$verify"; then
    pass "(g) systemd-analyze verify aperture@north.service (the template)"
else
    fail "(g) systemd-analyze verify aperture@north.service: $verify"
fi
security=$(inside systemd-analyze security --no-pager aperture@north.service 2>&1 | tail -n 1 || true)
score=$(echo "$security" | grep -oE '[0-9]+\.[0-9]+' | head -n 1)
if [[ -n "$score" ]] && awk -v s="$score" 'BEGIN { exit !(s < 2.5) }'; then
    pass "(g) systemd-analyze security aperture@north.service: $security"
else
    fail "(g) systemd-analyze security aperture@north.service: ${security:-no output} (want below 2.5)"
fi
# Stopping one leaves the other serving: its /healthz, and a new frame.
if inside_for 60 systemctl stop aperture@north.service && ! instance_active north \
        && instance_active south && instance_healthy south; then
    if exposure=$(inside_for 60 aperture camera expose --config /etc/aperture/south.conf \
            --runtime-dir /run/aperture/south --type bias --time 0 --wait 2>&1) \
            && file=$(echo "$exposure" | grep -o "/srv/aperture/south/data/[^ ]*\.fits" | head -n 1) && [[ -n "$file" ]]; then
        pass "(g) aperture@north stopped; aperture@south still serves (/healthz 200, a new frame $file)"
    else
        fail "(g) aperture@north stopped, but aperture@south's exposure failed: $exposure"
    fi
else
    fail "(g) after stopping north: north $(inside systemctl is-active aperture@north.service || true), south $(inside systemctl is-active aperture@south.service || true)"
fi
inside_for 60 systemctl stop aperture@south.service || true

# ---------------------------------------------------------------------------------------------

log "$passes passed, $failures failed"
if (( failures > 0 )); then
    exit 1
fi
