# The two commands: `make verify` (run the catalog, write pcaps/) and `make test` (the suite).
# Each sets itself up first: missing system packages (apt, when root), a venv, pip packages.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Commands and the Debian packages that provide them; libpcap is found by its library.
SYSTEM_TOOLS := ip:iproute2 tcpdump:tcpdump tshark:tshark
# The suite also renders pcaps/index.html in a real browser.
test: SYSTEM_TOOLS += chromium:chromium

# `make kernels` boots other kernels with virtme-ng in QEMU (KVM where it works, else TCG);
# virtme-ng-init needs udevd and a static busybox, depmod indexes the unpacked modules.
# The suite boots guests too (a kernel that does not boot, one past its deadline).
GUEST_TOOLS := qemu-system-x86_64:qemu-system-x86 depmod:kmod udevadm:udev busybox:busybox-static
kernels: SYSTEM_TOOLS += $(GUEST_TOOLS)
test: SYSTEM_TOOLS += $(GUEST_TOOLS)
# The kernels `make kernels` runs the catalog on, beside the host's, and on which topologies
# (CI: KERNELS=6.1 KERNEL_TOPOLOGY=loopback); KERNEL_ARGS for more (--jobs 2 --cpus 1...).
KERNELS ?= 6.1 6.12
KERNEL_TOPOLOGY ?= both
KERNEL_ARGS ?=

# Runs at a time in `make verify` and `make soak`, each in its own namespaces.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Extra arguments for pytest in `make test`, e.g. PYTEST_ARGS="--junitxml=pcaps/junit.xml" (CI).
PYTEST_ARGS ?=

.PHONY: verify test lint system venv venv-kernels clean docker-verify bench soak kernels

verify: system venv
	$(BIN)/harness verify --jobs $(JOBS) --junit pcaps/junit-verify.xml

test: system venv venv-kernels
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check harness tests bench

# The harness against a shell baseline (bench/baseline.sh), phase by phase, the start-up of
# `harness list` and `harness check`, the matcher's worst cases: bench/results.json.
bench: system venv
	$(BIN)/python -m compileall -q harness
	$(BIN)/python bench/bench.py

# The whole catalog N times (CI: N=5); any verdict that changed between rounds fails it.
N ?= 200
soak: system venv
	$(BIN)/harness soak --rounds $(N) --jobs $(JOBS)

# The catalog on the host and in a guest of each of KERNELS: pcaps/kernels/kernels.json.
kernels: system venv-kernels
	$(BIN)/harness kernels $(foreach k,$(KERNELS),--kernel $(k)) --topology $(KERNEL_TOPOLOGY) \
	  $(KERNEL_ARGS)

venv: $(STAMP)

# virtme-ng only for `make kernels`: an extra of the package (pyproject's `kernels`).
venv-kernels: $(VENV)/.kernels-installed

$(VENV)/.kernels-installed: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,kernels]' --config-settings editable_mode=compat
	@touch $@

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "make: $(PYTHON) is older than 3.11; run with PYTHON=python3.11 (or newer)"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || \
	  { echo "make: $(PYTHON) has no venv module; apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# compat: the checkout goes on sys.path by a .pth line, not by an import hook that every
	@# start-up would import (harness list takes ~15 ms less)
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	$(BIN)/python -m compileall -q harness
	@touch $@

# Installs what is missing when it can (root with apt-get); otherwise names what to install.
system:
	@missing=""; \
	for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; \
	done; \
	ldconfig -p 2>/dev/null | grep -q 'libpcap\.so' || missing="$$missing libpcap0.8"; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing$$missing"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "make: missing system packages:$$missing; install them (apt-get install$$missing) or run make as root"; \
	  exit 1; \
	fi

# `make verify` in a container (docker/README.md: why these capabilities, and not --privileged).
docker-verify:
	@command -v docker >/dev/null 2>&1 || \
	  { echo "make: docker-verify needs docker; install it, or run make verify as root"; exit 1; }
	docker build -f docker/Dockerfile -t tcp-close-harness .
	docker run --rm --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_ADMIN \
	  -v "$(CURDIR)/pcaps:/app/pcaps" tcp-close-harness

clean:
	rm -rf $(VENV) pcaps/*.pcapng pcaps/results.json pcaps/tests pcaps/soak .pytest_cache
