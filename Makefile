# swift-mqtt-seal: the two commands of README.md.
#   make demo   installs what is missing, builds, and runs the sealed pub/sub demo against its own mosquitto
#   make test   installs what is missing and runs every test (unit, vectors, real-broker)

APT_PACKAGES := libsodium-dev libssl-dev pkg-config openssl mosquitto mosquitto-clients libmosquitto-dev gcc rabbitmq-server ejabberd
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SHARED_VECTORS := $(abspath ../shared/vectors)

.PHONY: deps build demo test lint format bench fuzz-envelope fuzz-mqtt seallite-test

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

build: deps
	swift build

demo: build
	swift run mqtt-seal demo

# Tests run one at a time: many of them start real brokers and push tens of thousands of messages, and on a
# 2-core machine running them all at once turns generous deadlines into timeouts.
test: deps
	SEAL_VECTORS_DIR=$${SEAL_VECTORS_DIR:-$(SHARED_VECTORS)} swift test --no-parallel

lint:
	swift format lint --strict --recursive Package.swift Sources Tests Benchmarks

format:
	swift format format --in-place --recursive Package.swift Sources Tests Benchmarks

bench: deps
	swift package --allow-writing-to-package-directory benchmark

# SealLite (C99): its vector and unit tests, full and HMAC-only builds with ASan + UBSan; no Swift build.
seallite-test: deps
	Scripts/seallite-test
