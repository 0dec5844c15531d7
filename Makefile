# cdlc: `make run` starts the server, `make test` runs every test.
# Both install the Debian packages they need when they are missing.

APT_PACKAGES := libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
	libgstreamer-plugins-bad1.0-dev gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
	gstreamer1.0-libav gstreamer1.0-tools ffmpeg pkg-config curl \
	nats-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600

.PHONY: deps toolchain build run test bench lint clean

toolchain:
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run make again"; exit 1; }

deps: toolchain
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(APT) update -qq && $(APT) install -y -qq $$missing; \
	fi

build: deps
	cargo build --release -p cdlc

run: build
	./target/release/cdlc serve --data-dir data

test: deps
	cargo build -p cdlc
	cargo test --workspace

bench: deps
	cargo build --release -p cdlc
	cargo bench -p cdlc-benches --bench transcode_vs_ffmpeg
	cargo bench -p cdlc-benches --bench time_to_playable

lint: deps
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
