# persistfs: `make run` mounts ./data on ./mnt, `make test` runs the whole suite.
# Each target installs what is missing first (apt packages, npm packages, the native addon, tsc), and
# does nothing for parts already in place.
SHELL := /bin/bash
APT_PACKAGES := liburing-dev libisal-dev libfuse2 libfuse-dev fuse3 fio pkg-config util-linux attr acl git clang-format ceph-mon ceph-osd radosgw curl rclone s3fs
ADDON := native/build/Release/persistfs_native.node
TS_SOURCES := $(shell find src test scripts mount -name '*.ts' 2>/dev/null)

.PHONY: build deps lint format test test-mount test-no-writeback test-uring pjdfstest fsx fsstress bench bench-remote fio charts run clean install uninstall
build: $(ADDON) dist/.built

deps: .deps-apt node_modules/.package-lock.json

# apt: only when a package is missing (dpkg -s answers without the network)
.deps-apt: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# node_modules only has to be there (node-addon-api): `npm ci` itself builds the addon (the package's install
# script, scripts/install-addon.mjs), and a newer node_modules is no reason to build it again. The same
# script builds it here: it does nothing when npm ci has just built it (make decided before that), says
# what to apt-get install when something is missing, and keeps node-gyp's info lines quiet.
$(ADDON): .deps-apt native/binding.gyp $(wildcard native/src/*.* native/src/*/*) | node_modules/.package-lock.json
	node scripts/install-addon.mjs
	@test -f $@

dist/.built: node_modules/.package-lock.json tsconfig.json $(TS_SOURCES)
	node_modules/.bin/tsc -p .
	@touch $@

NATIVE_SOURCES := $(shell find native/src -name '*.cc' -o -name '*.h' 2>/dev/null)

# Lint and format, checked: Biome for TypeScript (biome.json), clang-format for native/ (native/.clang-format).
lint: deps
	node_modules/.bin/biome ci --reporter=summary .
	clang-format --dry-run --Werror $(NATIVE_SOURCES)

# Applies both formatters (and Biome's safe fixes) to the tree.
format: deps
	node_modules/.bin/biome check --write .
	clang-format -i $(NATIVE_SOURCES)

# With PJDFSTEST_DIR, FSX or FSSTRESS set, that suite runs after the test files and counts in the summary (README.md, Tests).
test: lint build
	node scripts/run-tests.mjs

# The mount suite alone (both transports, as in `make test`).
test-mount: build
	node scripts/run-tests.mjs test/mount/

# The mount suite through the kernel transport without the writeback cache (--no-writeback-cache; it is
# on by default, which `make test` runs).
test-no-writeback: build
	PERSISTFS_TEST_TRANSPORT=kernel PERSISTFS_TEST_WRITEBACK=0 node scripts/run-tests.mjs test/mount/

# The mount suite through the kernel transport over FUSE io_uring queues (--fuse-uring on); switches the
# fuse module's enable_uring on for the run and back after.
test-uring: build
	@before=$$(cat /sys/module/fuse/parameters/enable_uring); echo Y > /sys/module/fuse/parameters/enable_uring; \
	PERSISTFS_TEST_TRANSPORT=kernel PERSISTFS_TEST_URING=1 node scripts/run-tests.mjs test/mount/; status=$$?; \
	echo $$before > /sys/module/fuse/parameters/enable_uring; exit $$status

# pjdfstest (built outside this repository: README.md, Tests) on a fresh mount, through TRANSPORT (kernel)
pjdfstest: build
	scripts/pjdfstest.sh $(PJDFSTEST_DIR)

# fsx (xfstests' file system exerciser, built outside this repository: README.md, Tests) on a fresh mount
fsx: build
	scripts/fsx.sh $(FSX)

# fsstress (xfstests' concurrent random operations, built outside this repository: README.md, Tests) on a fresh mount
fsstress: build
	scripts/fsstress.sh $(FSSTRESS)

# BENCH_ARGS are bench.js' options (--help lists them), e.g. BENCH_ARGS="--section wal --quick".
bench: build
	node dist/scripts/bench.js $(BENCH_ARGS)

# The remote section alone (`make bench` runs it last, about 15 minutes): persistfs mount s3:// against rclone
# mount and s3fs, backup and restore against rclone, on a Ceph radosgw that it starts and stops itself.
bench-remote: build
	node dist/scripts/bench.js --section remote $(BENCH_ARGS)

fio: build
	node dist/scripts/fio.js $(FIO_ARGS)

# Draws the SVG charts of reports already in bench-results/ (bench and fio draw theirs when they save) without
# rerunning anything: CHARTS_ARGS names the JSON files (the newest bench and fio reports when empty) and
# `--out <dir>` (beside each JSON when absent), e.g. CHARTS_ARGS='--out docs/charts bench-results/fio-X.json'.
charts: build
	node dist/scripts/charts.js $(CHARTS_ARGS)

# Mounts ./data (the backing store) at ./mnt in the foreground; Ctrl-C unmounts.
run: build
	@mkdir -p data mnt
	node dist/mount/cli.js mount data mnt

# `make install` (after `make build`) puts two small scripts that run this checkout's build with this Node:
# $(BINDIR)/persistfs, and mount(8)'s helper for type fuse.persistfs, $(SBINDIR)/mount.fuse.persistfs
# (mount(8) looks for helpers in /sbin only, so SBINDIR does not follow PREFIX). The checkout must stay
# where it is; `make uninstall` removes both. DESTDIR is prefixed to both, for staging.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= /sbin
NODE ?= $(shell command -v node)
wrapper = printf '\043!/bin/sh\n\043 installed by make install from %s\nexec \047%s\047 \047%s\047 "$$@"\n' '$(CURDIR)' '$(NODE)' '$(CURDIR)/dist/mount/$(1)'

install:
	@for f in dist/mount/cli.js dist/mount/mount-fuse.js $(ADDON); do \
	  [ -f $$f ] || { echo "make install: $$f is not built; run make build first" >&2; exit 1; }; done
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR)
	$(call wrapper,cli.js) > $(DESTDIR)$(BINDIR)/persistfs
	$(call wrapper,mount-fuse.js) > $(DESTDIR)$(SBINDIR)/mount.fuse.persistfs
	chmod 755 $(DESTDIR)$(BINDIR)/persistfs $(DESTDIR)$(SBINDIR)/mount.fuse.persistfs

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/persistfs $(DESTDIR)$(SBINDIR)/mount.fuse.persistfs

clean:
	rm -rf dist native/build .deps-apt
