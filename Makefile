# Aperture: the two commands of the README's Quick start, and a few helpers.
#   make run    build, install missing -dev packages, run the service with config/aperture.conf
#   make test   build and run every test (installs missing apt and pip test dependencies)

SWIFT  ?= swift
CONFIG ?= config/aperture.conf

.PHONY: run test build deps test-deps bench clean

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	$(SWIFT) build

run: build
	.build/debug/aperture --config $(CONFIG)

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: deps
	$(SWIFT) run -c release aperture-bench-bus

clean:
	rm -rf .build run data
