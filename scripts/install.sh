#!/usr/bin/env bash
# Installs Aperture as a systemd service: the four executables, the configuration (only when
# absent), the unit and the template unit aperture@.service (one instance per camera), their
# sysusers.d and tmpfiles.d entries, the nginx sites and the operations guide. Safe to run
# again: files are replaced, the configuration and an installed nginx site are never
# overwritten. See docs/operations.md.
#
#   scripts/install.sh [--bin-dir DIR] [--prefix DIR] [--root DIR]
#
#   --bin-dir DIR  where the built executables are (default .build/release, from
#                  `swift build -c release`)
#   --prefix DIR   installation prefix for the executables and documentation (default
#                  /usr/local: /usr/local/bin/aperture); the unit's ExecStart= follows it
#   --root DIR     install into the root file system at DIR (an image, a container) instead of
#                  this machine; nothing is run on this machine then
set -euo pipefail

usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; }
die() { echo "install: $*" >&2; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin_dir="$repo/.build/release"
prefix=/usr/local
root=""

while (( $# )); do
    case "$1" in
        --bin-dir) bin_dir=${2:?--bin-dir needs a directory}; shift 2 ;;
        --bin-dir=*) bin_dir=${1#*=}; shift ;;
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --root) root=${2:?--root needs a directory}; shift 2 ;;
        --root=*) root=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

[[ "$prefix" == /* ]] || die "--prefix must be an absolute path: $prefix"
prefix=${prefix%/}
if [[ -n "$root" ]]; then
    [[ -d "$root" ]] || die "--root $root is not a directory"
    root=$(cd "$root" && pwd)
    [[ "$root" != / ]] || root=""
fi

executables=(aperture aperture-camera aperture-processor aperture-catalog aperture-gateway aperture-archive)
for name in "${executables[@]}"; do
    [[ -x "$bin_dir/$name" ]] || die "$bin_dir/$name is missing: build with 'swift build -c release' or pass --bin-dir"
done

# install(1) wrappers that say what they do.
put() { # MODE SOURCE DEST
    install -D -m "$1" "$2" "$3"
    echo "installed $3"
}
put_if_absent() { # MODE SOURCE DEST
    if [[ -e "$3" ]]; then
        echo "kept      $3 (exists; the new version is in $2)"
    else
        put "$@"
    fi
}

# The executables side by side: `aperture` starts the children found next to it.
for name in "${executables[@]}"; do
    put 0755 "$bin_dir/$name" "$root$prefix/bin/$name"
done

put_if_absent 0644 "$repo/config/aperture.conf" "$root/etc/aperture/aperture.conf"

# The unit, with the paths of this prefix.
unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed -e "s|/usr/local/bin/aperture|$prefix/bin/aperture|g" \
    -e "s|/usr/local/share/doc/aperture|$prefix/share/doc/aperture|g" \
    "$repo/units/aperture.service" >"$unit"
put 0644 "$unit" "$root/etc/systemd/system/aperture.service"
# The template unit, one instance per camera (aperture@NAME with /etc/aperture/NAME.conf), and
# an instance's configuration to start from.
sed -e "s|/usr/local/bin/aperture|$prefix/bin/aperture|g" \
    -e "s|/usr/local/share/doc/aperture|$prefix/share/doc/aperture|g" \
    "$repo/units/aperture@.service" >"$unit"
put 0644 "$unit" "$root/etc/systemd/system/aperture@.service"
put 0644 "$repo/config/instance-example.conf" "$root$prefix/share/aperture/instance-example.conf"
# The facility archive's unit (docs/archive.md): installed, not enabled.
sed -e "s|/usr/local/bin/aperture|$prefix/bin/aperture|g" \
    -e "s|/usr/local/share/doc/aperture|$prefix/share/doc/aperture|g" \
    "$repo/units/aperture-archive.service" >"$unit"
put 0644 "$unit" "$root/etc/systemd/system/aperture-archive.service"
put 0644 "$repo/units/aperture.sysusers" "$root/usr/lib/sysusers.d/aperture.conf"
put 0644 "$repo/units/aperture.tmpfiles" "$root/usr/lib/tmpfiles.d/aperture.conf"

put 0644 "$repo/docs/operations.md" "$root$prefix/share/doc/aperture/operations.md"
put 0644 "$repo/docs/archive.md" "$root$prefix/share/doc/aperture/archive.md"
put 0644 "$repo/units/nginx/aperture.conf" "$root$prefix/share/aperture/nginx/aperture.conf"
put 0644 "$repo/units/nginx/aperture-instances.conf" "$root$prefix/share/aperture/nginx/aperture-instances.conf"
if [[ -d "$root/etc/nginx/sites-available" ]]; then
    put_if_absent 0644 "$repo/units/nginx/aperture.conf" "$root/etc/nginx/sites-available/aperture"
fi

if [[ -z "$root" && -d /run/systemd/system ]]; then
    systemctl daemon-reload
    echo "reloaded systemd"
fi

cat <<EOF

Next (as root${root:+, inside $root}):
  systemd-sysusers                      # the user and group aperture
  systemd-tmpfiles --create             # /srv/aperture/data
  systemctl enable --now aperture
Several cameras on this host: one aperture@NAME each, with /etc/aperture/NAME.conf from
  $prefix/share/aperture/instance-example.conf (see "Several cameras on one host" in operations.md)
nginx: see "nginx" in $prefix/share/doc/aperture/operations.md
EOF
