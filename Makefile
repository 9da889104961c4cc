# hashtag_kit: the two commands are `make reproduce` and `make test`; each does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN ?= default
RUN_MODE ?= full
# TensorFlow's C++ log level: the command line's own default (3: quiet, `-v` for the logs) unless
# you set TF_CPP_MIN_LOG_LEVEL yourself; the tests use 2 (tests/conftest.py)
export PYTHONHASHSEED := 0
export HASHTAG_KIT_DATA ?= $(abspath ../shared/data)

.PHONY: setup java chromium reproduce reproduce-flickr8k test test-fast lint format bench evaluate evaluate-tweets evaluate-fusion docs clean-outputs

setup: $(STAMP) java

# The venv is (re)built whenever the pinned requirements change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# METEOR and the PTB tokenizer of pycocoevalcap need Java; install it when missing and we may.
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Java (default-jre-headless) for METEOR ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) \
	      || echo "WARNING: could not install Java; METEOR and the PTB tokenizer will be skipped"; \
	  else echo "WARNING: no Java found (install default-jre-headless); METEOR will be skipped"; fi; }

# The web demo's browser test (tests/test_browser.py) drives headless Chromium; install it (and
# its driver, so Selenium never downloads one) when missing and we may.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium (chromium chromium-driver) for the web demo's browser test ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "WARNING: could not install Chromium; the browser test will be skipped"; \
	  else echo "WARNING: no Chromium found (install chromium chromium-driver); the browser test will be skipped"; fi; }

reproduce: setup
	$(PY) -m hashtag_kit reproduce --run $(RUN) --mode $(RUN_MODE)

# Flickr8k (real photos, official split; see docs/results.md "Real photos: Flickr8k"). FLICKR8K_DIR holds
# Flickr8k.token.txt, the split lists and Flicker8k_Dataset/. REPRODUCE_ARGS adds reproduce options,
# e.g. "--run flickr8k-7x7 -p 01:IMAGE_ENCODER=efficientnet_lite0" (the 7x7 grid: extraction 4x cheaper).
FLICKR8K_DIR ?= $(HASHTAG_KIT_DATA)/flickr8k
REPRODUCE_ARGS ?=
reproduce-flickr8k: setup
	$(PY) -m hashtag_kit reproduce --run flickr8k --mode $(RUN_MODE) --dataset flickr8k --data-dir $(FLICKR8K_DIR) $(REPRODUCE_ARGS)

# The suite runs on TEST_WORKERS pytest-xdist processes: the tests of one module, or of one
# shared smoke run (tests/conftest.py), stay on one worker, so each fixture is built once.
TEST_WORKERS ?= 2
test: setup chromium
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not smoke" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Benchmarks print their own figures (docs/performance.md; their code: tools/bench/); the loaders'
# benchmark reads the real datasets under HASHTAG_KIT_DATA.
bench: setup
	$(PY) -m hashtag_kit bench all

# TweetEval (notebook 07; real data under $(HASHTAG_KIT_DATA)): text-only encoder-decoder vs popularity,
# Hit@5 printed and written to outputs/tweets-eval/evaluate_tweets/metrics.json.
# TWEETS_LIMIT=0 is the full run (all 20,965 train tweets); the tests use a 12,000-tweet subset.
TWEETS_LIMIT ?= 0
evaluate-tweets: setup
	$(PY) -m hashtag_kit evaluate tweets --data $(HASHTAG_KIT_DATA) --out outputs/tweets-eval --limit $(TWEETS_LIMIT)

# Seed study of notebook 02's fusions (notebook 06) on outputs/default (run `make reproduce` first): F1@5 of
# weighted / sum / concat fusion for seeds 0-4 on all test posts and with text or image removed,
# printed and written to outputs/fusion-study/evaluate_fusion/metrics.json.
evaluate-fusion: setup
	$(PY) -m hashtag_kit evaluate fusion --run outputs/default --out outputs/fusion-study

# Rewrite the generated blocks of README.md and docs/results.md from the runs under outputs/
# (default, flickr8k, tweets-eval, fusion-study; a block whose run is absent is kept as it is).
docs: setup
	$(PY) tools/readme_results.py

clean-outputs:
	rm -rf outputs/*/
