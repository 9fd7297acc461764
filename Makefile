# Cradle: make run | make test | make verify | make bench | make soak | make build
# Every target installs what it needs, idempotently, so that a fresh Debian
# machine (as root, or with sudo) only needs `git clone && make test`.

GO        ?= go
TOOLS     := $(CURDIR)/.tools
BIN       := $(CURDIR)/bin
STATE     := $(CURDIR)/.state
STATICCHECK_VERSION := v0.8.2
GREMLINS_VERSION := v0.6.0
NFPM_VERSION := v2.45.2
VERSION ?= 0.2.0
# Debian packages the build and tests use: network namespaces and packet
# filters (fault tests), systemd-analyze (unit check), libvpx (VP8, cgo),
# libmp3lame (MP3, cgo, linked dynamically: LGPL),
# ALSA (microphone; the tests play a tone through ALSA's file plugin),
# opusdec (decodes the end-to-end recording), PulseAudio with a null sink
# (the listener plays through it; parec records it), and the JACK client
# and ALSA plugin libraries whose start-up noise the binaries must silence,
# Chromium (the dashboard's browser tests drive it headless), and WebKit:
# webkit2gtk-driver (WebKitWebDriver and MiniBrowser) under xvfb.
BUILD_PACKAGES := gcc pkg-config libvpx-dev libmp3lame-dev libasound2
APT_PACKAGES := $(BUILD_PACKAGES) iproute2 iptables systemd alsa-utils opus-tools bind9-dnsutils avahi-daemon avahi-utils dbus \
	pulseaudio pulseaudio-utils libpulse0 libjack-jackd2-0 libasound2-plugins chromium \
	webkit2gtk-driver xvfb

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export CGO_ENABLED ?= 1

.PHONY: go-version all run build test verify bench soak fuzz mutation deps apt apt-build apt-install tools clean deb deb-pkg cross cross-deps deb-arm64 image image-check image-test image-test-pi3

all: build

## go-version: the Go this needs (go.mod's go line), or what to do.
GO_MIN := $(shell sed -n 's/^go \([0-9.]*\)$$/\1/p' go.mod)
go-version:
	@v=$$($(GO) env GOVERSION 2>/dev/null | sed 's/^go//'); \
	if [ -z "$$v" ]; then \
	  echo "No Go found (\"$(GO)\"): Cradle needs Go $(GO_MIN) or newer. Install it as README.md says (Two commands: Go from go.dev)."; exit 1; \
	fi; \
	if [ "$$(printf '%s\n%s\n' "$(GO_MIN)" "$$v" | sort -V | head -n 1)" != "$(GO_MIN)" ]; then \
	  echo "Go $$v is too old: Cradle needs Go $(GO_MIN) or newer (Debian 12's golang package is 1.19)."; \
	  echo "Install Go from https://go.dev/dl/ as README.md says (Two commands), then run make again."; exit 1; \
	fi

## deps: Debian packages and Go modules the tests need (idempotent).
deps: go-version apt
	$(GO) mod download

apt:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

apt-build: go-version
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(BUILD_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  : "another apt (a second make, unattended-upgrades) holds the lock: wait for it, and fail if the install fails"; \
	  $(SUDO) apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing || exit 1; \
	  if [ -d /run/systemd/system ]; then \
	    : "the tests run their own avahi inside network namespaces: keep the host's off"; \
	    $(SUDO) systemctl disable --now avahi-daemon.service avahi-daemon.socket >/dev/null 2>&1 || true; \
	  fi; \
	fi

## tools: Go tools pinned by version, installed under .tools/.
tools: $(TOOLS)/staticcheck

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

build: apt-build
	$(GO) build -trimpath -ldflags "-s -w" -o $(BIN)/ ./cmd/...

$(TOOLS)/nfpm:
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

## deb: the two Debian packages, for this machine's architecture: cradle
## (the listener: bin/cradle_VERSION_ARCH.deb) and cradled (the monitor, its
## units and example configuration: bin/cradled_VERSION_ARCH.deb).
## DEB_STAGE: the binaries to package; DEB_ARCH: their architecture.
DEB_PACKAGES := cradle cradled
deb: build $(TOOLS)/nfpm
	@$(MAKE) --no-print-directory deb-pkg DEB_STAGE=$(BIN) DEB_ARCH=$$($(GO) env GOARCH)

deb-pkg:
	cd deploy/deb && for p in $(DEB_PACKAGES); do \
	  STAGE=$(DEB_STAGE) ARCH=$(DEB_ARCH) VERSION=$(VERSION) $(TOOLS)/nfpm pkg --packager deb --config $$p.yaml \
	    --target $(BIN)/$${p}_$(VERSION)_$(DEB_ARCH).deb || exit 1; \
	done

## run: the monitor on this machine, with its state under .state/: a demo
## with the test tone, not a microphone (--media test).
run: build
	@mkdir -p $(STATE)
	@$(BIN)/cradled --state-dir $(STATE)/monitor --listen 127.0.0.1:48080 setup-code
	@echo "This demo plays a 440 Hz test tone instead of a microphone (cradled --media test), so a computer without one shows no microphone fault."
	@echo "To hear this computer's microphone instead: $(BIN)/cradled --state-dir $(STATE)/monitor --listen 127.0.0.1:48080 --media devices"
	@echo "Next steps, in another terminal:"
	@echo "  $(BIN)/cradled --state-dir $(STATE)/monitor pair          # open the pairing window (the button)"
	@echo "  $(BIN)/cradle --state-dir $(STATE)/listener pair 127.0.0.1:48080 --code <the setup code above>"
	@echo "  $(BIN)/cradle --state-dir $(STATE)/listener listen 127.0.0.1:48080   # hear the monitor on your speakers (the test tone); Enter acknowledges an alarm"
	@echo "  $(BIN)/cradle --state-dir $(STATE)/listener status --watch  # online/offline from the heartbeat"
	@echo "Or in a browser on this computer: https://127.0.0.1:8443/ (the monitor's own page; accept the certificate warning once, pair with the setup code above)"
	@echo
	$(BIN)/cradled --state-dir $(STATE)/monitor --listen 127.0.0.1:48080 --page-listen 127.0.0.1:8443 --media test

## test: everything `go test` can check, with the race detector (nfpm:
## deploy/deb's test builds and installs the packages).
test: deps $(TOOLS)/nfpm
	$(GO) test -race -count=1 -timeout 9m ./...

## verify: formatting, vet, staticcheck, and a tidy go.mod.
verify: apt-build tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	@cp go.mod /tmp/cradle.go.mod.bak && cp go.sum /tmp/cradle.go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changes go.mod/go.sum: run it and commit"; git diff -- go.mod go.sum | head -40; \
	  cp /tmp/cradle.go.mod.bak go.mod; cp /tmp/cradle.go.sum.bak go.sum; exit 1; fi
	$(MAKE) cross

## bench: the speed and memory targets (see docs/BENCHMARKS.md).
bench: deps
	$(GO) test -run '^$$' -bench . -timeout 90m ./... | tee bench.out

## cross: the Pi's binaries (linux/arm64, cgo: Opus, VP8, ALSA, V4L2)
## into bin/arm64/, with Debian's cross compiler and arm64 libraries.
CROSS_ENV := CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
cross: cross-deps
	$(CROSS_ENV) $(GO) build -trimpath -ldflags "-s -w" -o $(BIN)/arm64/ ./cmd/...
	$(CROSS_ENV) $(GO) vet ./...

cross-deps:
	@if [ "$$(dpkg-query -W -f='$${Status}\n' gcc-aarch64-linux-gnu libvpx-dev:arm64 libmp3lame-dev:arm64 2>/dev/null | grep -c 'install ok installed')" != 3 ]; then \
	  echo "installing the arm64 cross toolchain"; \
	  $(SUDO) dpkg --add-architecture arm64 && $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross libvpx-dev:arm64 libmp3lame-dev:arm64; \
	fi

## deb-arm64: the two .debs for the Pi, cross-built here.
deb-arm64: cross $(TOOLS)/nfpm
	@$(MAKE) --no-print-directory deb-pkg DEB_STAGE=$(BIN)/arm64 DEB_ARCH=arm64

## image: a flashable Pi SD-card image (Debian bookworm arm64 + the package
## cradled), see deploy/image/README.md. 16-34 min from an empty cache, 30 s
## from it.
IMAGE_PACKAGES := debootstrap qemu-user-static binfmt-support dosfstools mtools fdisk e2fsprogs
image: deb-arm64
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(IMAGE_PACKAGES)"
	$(SUDO) deploy/image/build.sh $(BIN)/cradle.img $(BIN)/cradled_$(VERSION)_arm64.deb

## image-test: a release step, too slow for `make test` (about 5 min from
## the image cache): boot the image in QEMU on a private network, pair a
## phone on the monitor's page (by its .local name) and a listener with the
## code from its boot partition, listen (a 1 kHz tone played into the
## guest's emulated sound card through a private PulseAudio server, not
## the monitor's 440 Hz test tone), upgrade the monitor's package (cradled)
## in the running guest (older, then newer) and check that the pairing
## survives; prints QEMU start -> monitor ready -> paired -> first audio
## and the frequency and level heard. See deploy/image/README.md.
## qemu-system-gui has QEMU's PulseAudio backend (-audiodev pa).
IMAGE_TEST_PACKAGES := qemu-system-arm qemu-system-gui pulseaudio pulseaudio-utils dnsmasq-base mtools fdisk opus-tools openssh-client iproute2 curl bind9-dnsutils
image-test: image build
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(IMAGE_TEST_PACKAGES)"
	mkdir -p $(BIN)/image-test
	cd deploy/deb && for v in 0.0.1 $(VERSION)+imagetest; do \
	  STAGE=$(BIN)/arm64 ARCH=arm64 VERSION=$$v $(TOOLS)/nfpm pkg --packager deb --config cradled.yaml --target $(BIN)/image-test/cradled_$${v}_arm64.deb || exit 1; \
	done
	$(SUDO) deploy/image/image-test.sh $(BIN)/cradle.img $(BIN)/cradle \
	  $(BIN)/image-test/cradled_0.0.1_arm64.deb $(BIN)/image-test/cradled_$(VERSION)+imagetest_arm64.deb

## image-test-pi3: a release step like image-test (about 5 min from the
## image cache): boot the image on QEMU's Raspberry Pi 3 model (raspi3b,
## its USB network), pair a listener with the card's code, listen (the
## 440 Hz test tone), and check over SSH with Debian's gpiod that cradled
## holds GPIO17 (LED) and GPIO27 (button) through the kernel's GPIO chip,
## the LED line following its patterns, then lines given by chip and
## offset. See deploy/image/README.md.
IMAGE_TEST_PI3_PACKAGES := qemu-system-arm dnsmasq-base mtools fdisk opus-tools openssh-client iproute2
image-test-pi3: image build
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(IMAGE_TEST_PI3_PACKAGES)"
	$(SUDO) deploy/image/image-test-pi3.sh $(BIN)/cradle.img $(BIN)/cradle

## image-check: verify the image without booting it (deploy/image/qemu-boot.sh
## boots it in QEMU in about 3 min).
image-check:
	@$(MAKE) --no-print-directory apt-install PACKAGES="fdisk mtools e2fsprogs dosfstools"
	deploy/image/check.sh $(BIN)/cradle.img

## soak: long fault runs, kept out of `make test` (see docs/SOAK.md): the
## soak tests one package at a time, then `make fuzz` (even when a soak
## test failed; the target fails if either did). About 20 min.
soak: deps
	rc=0; CRADLE_SOAK=1 $(GO) test -count=1 -p 1 -run Soak -v -timeout 150m ./... || rc=1; \
	$(MAKE) --no-print-directory fuzz || rc=1; exit $$rc

## mutation: mutation testing (gremlins) of the two roles' packages, one
## package at a time; each mutant runs its package's tests (about 1.5 h on
## 2 cores). -count=1: a cached coverage run would set tiny timeouts.
MUTATION_PKGS ?= ./appliance/monitor ./appliance/listener
mutation: deps $(TOOLS)/gremlins
	@for p in $(MUTATION_PKGS); do echo "== $$p"; \
	  GOFLAGS=-count=1 $(TOOLS)/gremlins unleash --workers 1 --timeout-coefficient 5 $$p | grep -v 'NOT COVERED'; done

$(TOOLS)/gremlins:
	GOBIN=$(TOOLS) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)

## fuzz: every Fuzz* target in the repository, one at a time, for FUZZTIME
## each (default 20s). A failing input is written to the package's
## testdata/fuzz/NAME/: fix the bug and commit the input as a seed.
FUZZTIME ?= 20s
fuzz: deps
	@failed=""; log=$$(mktemp); \
	for t in $$(grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/' | sort -u); do \
	  dir=$${t%%:*}; dir=$${dir%/*}; name=$${t#*:}; \
	  echo "== $$name in $$dir for $(FUZZTIME)"; touch $$log; \
	  { $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$dir; echo $$? > $$log.rc; } 2>&1 | tee $$log.out; \
	  [ "$$(cat $$log.rc)" = 0 ] && continue; \
	  if [ -z "$$(find $$dir/testdata/fuzz/$$name -type f -newer $$log 2>/dev/null)" ] && \
	     grep -qx '    context deadline exceeded' $$log.out && ! grep -q 'panic\|Failing input' $$log.out; then \
	    echo "fuzz: $$name: no failing input, only Go 1.26's end-of-fuzztime race (go.dev/issue/75804): not a finding"; \
	  else failed="$$failed $$dir:$$name"; fi; \
	done; rm -f $$log $$log.rc $$log.out; \
	if [ -n "$$failed" ]; then echo "fuzz: failures in:$$failed (failing inputs under testdata/fuzz/)"; exit 1; fi

clean:
	rm -rf $(BIN) $(STATE) bench.out
