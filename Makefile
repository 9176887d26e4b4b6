# Aperture: the two commands of the README's Quick start, and a few helpers.
#   make run    build, install missing -dev packages, run the service with config/aperture.conf
#   make test   build and run every test (installs missing apt and pip test dependencies)
#   make install        install a release build as a systemd service (scripts/install.sh; as root)
#   make system-test    the unit under a real systemd in a container (scripts/system-test.sh; as root)

SWIFT  ?= swift
CONFIG ?= config/aperture.conf

.PHONY: run test build deps test-deps bench clean install system-test

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	$(SWIFT) build

run: build
	.build/debug/aperture --config $(CONFIG)

# The suite runs under a watchdog: a run still going after 25 minutes prints every thread's
# backtrace and fails (scripts/run-tests.sh).
test: test-deps
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) scripts/run-tests.sh

# INSTALL_FLAGS: e.g. --bin-dir DIR, --prefix DIR, --root DIR (see scripts/install.sh --help).
install:
	scripts/install.sh $(INSTALL_FLAGS)

# SYSTEM_TEST_FLAGS: e.g. --bin-dir .build/debug (after `make test`: no release build), --keep.
system-test:
	scripts/system-test.sh $(SYSTEM_TEST_FLAGS)

bench: deps
	$(SWIFT) run -c release aperture-bench-bus

clean:
	rm -rf .build run data
