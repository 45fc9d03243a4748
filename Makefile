# debpipe: build an app's .deb and index it into an apt repository by piping
# the tools together. Every stage is a target with real file dependencies:
# a second `make` with nothing changed does nothing, and a changed `version`
# restages, repackages and re-indexes (the venv is kept unless the
# requirements, the wheelhouse or the venv path change).
#
#   make                          the example app (examples/wechat) into dist/
#   make APP=path/to/app REPO=dir same for any app laid out as the README says
#   make REPO_KEY=<gpg key id>    sign the repository (InRelease, Release.gpg)
#   make DIST=trixie              build for another Debian release (a codename
#                                 of releases.tsv) in its build root, into the
#                                 pool/ + dists/ layout of REPO
#   make publish S3=s3://bucket/prefix [DIST=codename] [REPO_KEY=...]
#                                 build the app and publish it into the apt
#                                 repository on S3 (endpoint, keys: AWS_*)
#   make test | fuzz | e2e | e2e-pretalx | bench | wheels | roots | roots-refresh | serve | sign | publish | man | clean

APP      ?= examples/wechat
REPO     ?= dist
DIST     ?=
BUILD    ?= build/$(if $(DIST),$(DIST)/)$(notdir $(abspath $(APP)))
PYTHON   ?= /usr/bin/python3
REPO_KEY ?=
PORT     ?= 8000
S3       ?=
PUSHREPO_FLAGS ?=
DEBPIPE_CACHE ?= $(HOME)/.cache/debpipe
export DEBPIPE_CACHE

# mkvenv: no pip in the shipped venv (the system pip installs into it: ~3 s
# less than ensurepip, a smaller package). mkdeb: gzip, as nfpm and fpm
# default to; mkdeb compresses its members in parallel, ~7x faster than xz
# for a ~60% larger package. MKDEB_FLAGS=-Zxz gives dpkg-deb's default.
MKVENV_FLAGS ?= --without-pip
MKDEB_FLAGS  ?= -Zgzip
# mkdeb keeps its compressed gzip members here and reuses them: a rebuild
# after a version bump compresses only what changed (MKDEB_CACHE= turns it
# off; the package is the same bytes either way).
MKDEB_CACHE  ?= $(DEBPIPE_CACHE)/mkdeb
# stage-django keeps collected static trees here, keyed by the staged app
# and venv: a version bump links the last one in instead of running Django's
# collectstatic again (STATIC_CACHE= turns it off).
STATIC_CACHE ?= $(DEBPIPE_CACHE)/collectstatic
# stage-django's flags: --no-check skips the build-time preflight (the
# entry point imports, `check --deploy` finds no error), which otherwise
# fails the build of a release that postinst would refuse.
STAGE_DJANGO_FLAGS ?=
TIMED := $(CURDIR)/scripts/timed

CARGO_FLAGS ?= --release --locked
T     := $(abspath $(or $(CARGO_TARGET_DIR),target))/release
TOOLS := appspec gen-uwsgi gen-gunicorn gen-nginx gen-init gen-control mkvenv mkdeb scanpkgs pushrepo stage-app stage-django
RUST_SOURCES := Cargo.toml Cargo.lock releases.tsv $(shell find crates -path '*/tests' -prune -o \( -name '*.rs' -o -name Cargo.toml -o -path '*/scripts/*' \) -print)

SPEC   := $(APP)/app.json
STAGE  := $(BUILD)/stage
WHEELS := $(APP)/wheels
APP_FILES := $(shell find $(APP) -path $(WHEELS) -prune -o -name __pycache__ -prune -o -type f -print)
SIGN   := $(if $(REPO_KEY),--sign-key $(REPO_KEY) $(if $(GNUPGHOME),--gpg-homedir $(GNUPGHOME)))

# Another Debian release (DIST): the build runs in that release's root
# (scripts/build-root, cached in $(DEBPIPE_CACHE)/roots/DIST-ARCH) with its
# python, its libraries and its dpkg; mkvenv and stage-django run python
# there (--sysroot, under scripts/in-root). The wheelhouse is the release's
# own (wheels/DIST-ARCH), the Version gets the release's +debNN suffix (so
# the builds of one app version for several releases sort by release), and
# the package goes into REPO's pool/main/<l>/<package>/, indexed in
# dists/DIST/main/binary-ARCH/ with the other releases' indexes untouched.
# What differs between releases is in releases.tsv (scripts/release.sh
# reads it; gen-init --dist puts the units in the release's unit directory).
RELEASE := scripts/release.sh
DISTS   = $(shell $(RELEASE) list)
ifneq ($(DIST),)
ifeq ($(filter $(DIST),$(DISTS)),)
$(error DIST=$(DIST) is not supported: use one of $(DISTS), or no DIST for this host's release)
endif
ARCH    := $(shell dpkg --print-architecture)
ROOT    := $(DEBPIPE_CACHE)/roots/$(DIST)-$(ARCH)
WHEELS  := $(APP)/wheels/$(DIST)-$(ARCH)
WHEEL_CACHE := $(DEBPIPE_CACHE)/wheels/$(DIST)-$(ARCH)
SUFFIX  := $(shell $(RELEASE) suffix $(DIST))
INIT_DIST := --dist $(DIST)
# A pip older than 22.3 (bullseye's 20.3) has no `pip --python VENV`: the
# venv keeps its own pip.
ifneq ($(shell dpkg --compare-versions $$($(RELEASE) pip $(DIST)) lt 22.3 && echo old),)
MKVENV_FLAGS := $(filter-out --without-pip,$(MKVENV_FLAGS))
endif
PYTHON  := /usr/bin/python3
IN_ROOT  = scripts/in-root $(ROOT) $(abspath $(APP)) $(abspath $(BUILD)) $(abspath $(WHEELS)) $(WHEEL_CACHE) --
SYSROOT := --sysroot $(ROOT)
POOL    := --pool main --target-dpkg $$(dpkg-query --admindir=$(ROOT)/var/lib/dpkg -W -f='$${Version}' dpkg)
INDEX   := $(REPO)/dists/$(DIST)/Release
SCAN    := --dist $(DIST) -a $(ARCH) --version-suffix $(SUFFIX) pool/main
ROOT_DB := $(ROOT)/var/lib/dpkg/status
else
WHEEL_CACHE := $(DEBPIPE_CACHE)/wheels
INDEX   := $(REPO)/Release
SCAN    := .
endif

.PHONY: all deps tools test fuzz e2e e2e-pretalx bench wheels roots roots-refresh root serve sign publish man clean $(TOOLS)
.DELETE_ON_ERROR:

all: $(INDEX)
	@echo "==> package: $$(cat $(BUILD)/deb-path)"
	@echo "==> repository: $(abspath $(REPO)) (make serve PORT=$(PORT) serves it)"
	@echo "==> sources.list: deb $(if $(REPO_KEY),[signed-by=/etc/apt/keyrings/<your key>.gpg],[trusted=yes]) http://<host>:$(PORT)/ $(if $(DIST),$(DIST) main,./)"

# System packages. scripts/install-deps takes 0.2-0.4 s (a dpkg-query per
# package), so `deps` runs it only when something may be missing: no stamp
# yet, or the script or dpkg's database (/var/lib/dpkg/status) is newer than
# the stamp, or a package's key file (its copyright file) or apt's lists are
# gone. Those checks are stats done by make itself, no process started
# (`install-deps --key-files` runs once, a shell that only echoes). The
# stamp is made after a successful run. `make install-deps` runs it always,
# as `make test` and .ci/run do.
DEPS_STAMP := build/.deps-ok
DEPS_KEYS  := $(shell scripts/install-deps --key-files)
DEPS_GONE  := $(filter-out $(wildcard $(DEPS_KEYS)),$(DEPS_KEYS)) $(if $(wildcard /var/lib/apt/lists/*_Packages*),,apt-lists)
.PHONY: install-deps deps-gone

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps $(wildcard /var/lib/dpkg/status) $(if $(strip $(DEPS_GONE)),deps-gone)
	@scripts/install-deps
	@mkdir -p $(@D) && touch $@
deps-gone:
install-deps:
	@scripts/install-deps
	@mkdir -p $(dir $(DEPS_STAMP)) && touch $(DEPS_STAMP)

tools: $(T)/.built
$(T)/.built: $(RUST_SOURCES) | deps
	@echo "==> [tools] cargo build $(CARGO_FLAGS)"
	cargo build $(CARGO_FLAGS) --workspace --bins
	@touch $@

# One tool: `make mkdeb` builds target/release/mkdeb.
$(TOOLS): | deps
	cargo build $(CARGO_FLAGS) -p $@

# The build roots (with DIST): made once, refreshed (apt-get upgrade) when a
# day old; `root` also installs the spec's build_depends. `make roots` makes
# every release's, `make roots-refresh` refreshes them now.
root: tools
	@scripts/build-root $(DIST) $$($(T)/appspec get --lines build_depends $(SPEC)) >/dev/null
roots:
	@for d in $(DISTS); do scripts/build-root $$d || exit 1; done
roots-refresh:
	@for d in $(DISTS); do scripts/build-root --refresh $$d || exit 1; done

# The wheelhouse: built once with pip wheel (uWSGI compiles here; with DIST,
# in the release's root), reused from $(WHEEL_CACHE) so later builds run
# offline. The spec's no_binary projects are built from source (pip's
# --no-binary) against the libraries installed here (with DIST, the root's:
# build_depends); a binary (manylinux, musllinux) wheel of theirs left in
# the wheelhouse by an earlier fill is removed first (mkvenv refuses it),
# and the wheel cache is not searched for them.
wheels: $(WHEELS)/.filled
$(WHEELS)/.filled: $(APP)/requirements.txt $(BUILD)/no-binary.key | deps $(if $(DIST),root)
	@echo "==> [wheels] pip wheel -r $(APP)/requirements.txt$(if $(DIST), (in the $(DIST) root))"
	mkdir -p $(WHEELS) $(WHEEL_CACHE) $(BUILD)
	@scripts/no-binary-prune $(BUILD)/no-binary.key $(WHEELS)
	$(IN_ROOT) $(if $(DIST),chroot $(ROOT)) env PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= \
	  $(PYTHON) -m pip wheel --disable-pip-version-check -q \
	  $$(paste -sd, $(BUILD)/no-binary.key | sed 's/^./--no-binary &/') \
	  --find-links $(WHEEL_CACHE) --wheel-dir $(abspath $(WHEELS)) -r $(abspath $(APP))/requirements.txt
	cp -n $(WHEELS)/*.whl $(WHEEL_CACHE)/ 2>/dev/null || true
	@touch $@

# The projects the spec builds from source (no_binary), one a line,
# rewritten only when they change (the wheelhouse is refilled then).
$(BUILD)/no-binary.key: $(SPEC) $(T)/.built
	@mkdir -p $(BUILD)
	@$(T)/appspec get --lines no_binary $(SPEC) > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

# 1. The venv's install path, rewritten only when it changes.
$(BUILD)/venv.key: $(SPEC) $(T)/.built
	@mkdir -p $(BUILD)
	@$(T)/appspec get venv $(SPEC) > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

# 2. The relocatable venv, staged at its install path; facts on stdout.
$(BUILD)/facts.json: $(BUILD)/venv.key $(APP)/requirements.txt $(WHEELS)/.filled $(ROOT_DB) | $(if $(DIST),root)
	@echo "==> [venv] mkvenv$(if $(DIST), (in the $(DIST) root))"
	rm -rf $(BUILD)/venv
	$(TIMED) mkvenv $(IN_ROOT) $(T)/mkvenv $(SYSROOT) $(SPEC) -r $(APP)/requirements.txt --find-links $(WHEELS) --no-index \
	  --python $(PYTHON) $(MKVENV_FLAGS) --root $(BUILD)/venv > $@

# 3. The staging tree: app files, the venv (hard links, kept from the last
#    stage when it is still this venv's: scripts/stage-venv), Django's
#    settings overlay, admin helper, debpipe.env; collectstatic, the
#    build_commands, precompressed static files and the build-time preflight
#    (stage-django fails the build naming the step); generated configs at
#    their install paths (the daemons' and timers' units, SysV scripts, cron
#    file and runner; logrotate), and the control area.
$(BUILD)/stage.stamp: $(SPEC) $(APP_FILES) $(BUILD)/facts.json $(T)/.built
	@echo "==> [stage] stage-app stage-django gen-uwsgi (or gen-gunicorn) gen-nginx gen-init gen-control"
	scripts/stage-venv keep $(STAGE) $(BUILD)/venv $$(cat $(BUILD)/venv.key)
	rm -rf $(STAGE)
	$(TIMED) stage-app $(T)/stage-app $(SPEC) --app $(APP) --root $(STAGE) >/dev/null
	$(TIMED) "stage venv" scripts/stage-venv put $(STAGE) $(BUILD)/venv $$(cat $(BUILD)/venv.key)
	$(TIMED) stage-django $(IN_ROOT) $(T)/stage-django $(SYSROOT) $(if $(STATIC_CACHE),--cache $(STATIC_CACHE)) $(STAGE_DJANGO_FLAGS) $(SPEC) --root $(STAGE) >/dev/null
	server=$$($(T)/appspec get app_server $(SPEC)); gen=gen-$${server%-asgi}; \
	  $(TIMED) $$gen $(T)/$$gen --root $(STAGE) $(SPEC) >/dev/null
	$(TIMED) gen-nginx $(T)/gen-nginx --root $(STAGE) $(SPEC) >/dev/null
	$(TIMED) gen-init $(T)/gen-init --kind systemd $(INIT_DIST) --root $(STAGE) $(SPEC) >/dev/null
	$(TIMED) gen-init $(T)/gen-init --kind socket $(INIT_DIST) --root $(STAGE) $(SPEC) >/dev/null
	$(TIMED) gen-init $(T)/gen-init --kind sysv --root $(STAGE) $(SPEC) >/dev/null
	$(TIMED) "gen-init jobs" $(T)/gen-init --kind jobs $(INIT_DIST) --root $(STAGE) $(SPEC) >/dev/null
	$(TIMED) "gen-init logrotate" $(T)/gen-init --kind logrotate --root $(STAGE) $(SPEC) >/dev/null
	$(TIMED) gen-control $(T)/gen-control $(SPEC) $(if $(DIST),--version-suffix $(SUFFIX)) --facts $(BUILD)/facts.json --root $(STAGE) >/dev/null
	@touch $@

# 4. The package.
$(BUILD)/deb-path: $(BUILD)/stage.stamp
	@echo "==> [package] mkdeb"
	@mkdir -p $(REPO)
	$(TIMED) mkdeb $(T)/mkdeb $(MKDEB_FLAGS) $(if $(MKDEB_CACHE),--cache $(MKDEB_CACHE)) $(POOL) $(STAGE) $(REPO) > $@

# 5. The repository index (run from its root: Filename paths are relative).
$(INDEX): $(BUILD)/deb-path
	@echo "==> [index] scanpkgs"
	cd $(REPO) && $(TIMED) scanpkgs $(T)/scanpkgs --out-dir . $(SIGN) $(SCAN)

sign:
	@test -n "$(REPO_KEY)" || { echo "make sign: set REPO_KEY=<gpg key id>" >&2; exit 2; }
	cd $(REPO) && $(T)/scanpkgs --out-dir . $(SIGN) $(SCAN)

# 6. (make publish) The package into the apt repository on S3-compatible
# storage: merged with what is there, InRelease last, one publisher at a
# time. Endpoint and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY; DIST defaults to this host's codename.
ifneq ($(filter publish,$(MAKECMDGOALS)),)
ifeq ($(strip $(S3)),)
$(error make publish: set S3=s3://bucket[/prefix])
endif
endif
publish: $(BUILD)/deb-path
	@echo "==> [publish] pushrepo $(S3)"
	$(TIMED) pushrepo $(T)/pushrepo $(if $(DIST),--dist $(DIST)) $(if $(REPO_KEY),--sign-key $(REPO_KEY)) $(PUSHREPO_FLAGS) $(S3) "$$(cat $(BUILD)/deb-path)"

serve: all
	@echo "==> serving $(REPO) on http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	cd $(REPO) && $(PYTHON) -m http.server --bind 127.0.0.1 $(PORT)

test: install-deps
	cargo test --workspace --locked

# The readers of untrusted input (ar, .deb control members, deb822), each
# for FUZZ_RUNS inputs: with libFuzzer (cargo-fuzz, nightly) when both are
# installed, else the stable mutator of crates/debpipe-fuzz under ulimit -v.
# Both start from the seeds of crates/debpipe-fuzz (synthetic and real .debs).
FUZZ_RUNS    ?= 1000000
FUZZ_TARGETS := ar deb_control deb822 packages release
fuzz:
	cargo build --release --locked -p debpipe-fuzz
	if cargo +nightly fuzz --version >/dev/null 2>&1; then \
	    rm -rf target/fuzz-corpus && target/release/debpipe-fuzz --seed-corpus target/fuzz-corpus && \
	    for t in $(FUZZ_TARGETS); do \
	        (cd fuzz && cargo +nightly fuzz run $$t ../target/fuzz-corpus/$$t -- \
	            -runs=$(FUZZ_RUNS) -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 \
	            -max_len=1048576 -print_final_stats=1) || exit 1; \
	    done; \
	else \
	    ulimit -v 1048576 && target/release/debpipe-fuzz --runs $(FUZZ_RUNS) $(FUZZ_TARGETS); \
	fi

# With DIST, the end-to-end test on a fresh root of that release only.
e2e: tools
ifneq ($(DIST),)
	DIST=$(DIST) tests/e2e/run.sh
else
	tests/e2e/run.sh
	tests/foreign-app/run.sh
	tests/template-app/run.sh
	tests/dist/run.sh
	tests/s3-app/run.sh
endif

# A real application from PyPI (pretalx: PostgreSQL, Redis, a Celery
# worker, periodic jobs, a build step) on a fresh root of the release its
# python needs (the run.sh's default), installed with apt, upgraded under
# load, purged.
e2e-pretalx: tools
	$(if $(DIST),DIST=$(DIST) )tests/pretalx-app/run.sh

bench: tools
	crates/mkdeb/bench/run.sh
	crates/scanpkgs/bench/run.sh
	bench/flow.sh
	bench/noop-make.sh
	bench/dist.sh
	bench/rebuild.sh

# The build directory, and the in-tree repository (dist/) only: a REPO given
# on the command line may hold other teams' packages.
clean:
	rm -rf $(BUILD) $(if $(filter dist,$(REPO)),dist)

# Man pages from the tools' clap definitions (the same text as --help).
man:
	cargo run -q --locked -p debpipe-man -- target/man
