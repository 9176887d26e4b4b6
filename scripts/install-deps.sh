#!/usr/bin/env bash
# Installs what Aperture needs to build (and, with --test, to run its tests) when it is
# missing: Debian's -dev packages through apt-get, Python test peers through pip.
# Safe to run again: it only installs what is absent.
set -euo pipefail

want_tests=0
[[ "${1:-}" == "--test" ]] && want_tests=1

# libsqlite3-dev: the catalog (GRDB links the system SQLite).
# libnats-dev: the facility export and aperture-archive (NATS JetStream's C client, CNATS).
packages=(libnng-dev libcfitsio-dev libsystemd-dev zlib1g-dev libsqlite3-dev libnats-dev pkg-config)
if (( want_tests )); then
    # fitsverify and nginx check the files Aperture writes and ships; python3 runs test peers;
    # chromium loads the dashboard headless; nodejs checks that its script parses.
    packages+=(fitsverify nng-utils nginx python3 python3-pip chromium nodejs)
    # Plate solving and the real-sky simulator: solve-field, query-starkd and the Tycho-2
    # index files (/usr/share/astrometry/index-tycho2-NN.littleendian.fits; 08 is the
    # simulator's star catalogue).
    packages+=(astrometry.net astrometry-data-tycho2-08-littleendian astrometry-data-tycho2-09-littleendian
               astrometry-data-tycho2-10-19-littleendian)
    # fpack and funpack: Rice-compressed frames (data.compression = rice) checked and compared.
    packages+=(libcfitsio-bin)
    # Scale-out (issue 16): the tests start a real nats-server (JetStream) and a real PostgreSQL
    # (initdb and pg_ctl from postgresql-15) in scratch directories on loopback.
    packages+=(nats-server postgresql-15)
    # gdb: scripts/run-tests.sh prints every thread's backtrace of a test run that hangs (the
    # toolchain's lldb needs a libpython that Debian 12 does not have).
    packages+=(gdb)
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if (( ${#missing[@]} )); then
    echo "install-deps: installing ${missing[*]}" >&2
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if (( want_tests )); then
    python_packages=()
    python3 -c "import pynng" 2>/dev/null || python_packages+=(pynng)
    python3 -c "import astropy" 2>/dev/null || python_packages+=(astropy)
    python3 -c "import numpy" 2>/dev/null || python_packages+=(numpy)
    python3 -c "import schemathesis" 2>/dev/null || python_packages+=(schemathesis)
    python3 -c "import openapi_spec_validator" 2>/dev/null || python_packages+=(openapi-spec-validator)
    python3 -c "import alpaca.camera" 2>/dev/null || python_packages+=(alpyca)
    python3 -c "import websocket" 2>/dev/null || python_packages+=(websocket-client)
    # psen_processing's client (replayed by the psen test peer) speaks through requests.
    python3 -c "import requests" 2>/dev/null || python_packages+=(requests)
    if (( ${#python_packages[@]} )); then
        echo "install-deps: pip installing ${python_packages[*]}" >&2
        python3 -m pip install --quiet "${python_packages[@]}" 2>/dev/null \
            || python3 -m pip install --quiet --break-system-packages "${python_packages[@]}"
    fi
fi
