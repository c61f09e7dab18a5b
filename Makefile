# ayuda: `make run` to chat with it in this terminal, `make test` to run every test.
GO ?= go
# The Go release with the current security fixes (govulncheck found
# standard-library vulnerabilities reachable from ayuda in go1.26.8 that
# go1.27.3 fixes); the go command fetches it from the module proxy on first
# use, about 4 s.
export GOTOOLCHAIN := go1.27.3
BIN := bin/ayuda

.PHONY: run test test-postgres browser eval-check fuzz fuzz-build fuzz-run bench build vet fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/ayuda

# make run HTTP=127.0.0.1:8081 serves the API on another address; make run
# AS=maria chats as maria (default: $$USER, or "cliente").
HTTP ?=
# make has a built-in AS (the assembler, "as"), which ?= keeps: without
# this every terminal customer of `make run` was called "as".
ifeq ($(origin AS),default)
AS :=
endif
run: build
	AYUDA_HTTP=$(HTTP) ./$(BIN) serve $(if $(AS),--as $(AS))

# Every test: a gofmt check, vet, every test with the race detector, the
# queue's tests on PostgreSQL (test-postgres), the answer-quality bars (eval-check) and the fuzz targets (fuzz). Vet is run
# with -race so that it compiles the dependencies exactly as the tests
# need them: they are compiled once. While vet and the tests run, the
# binary and the fuzz targets (which need their own instrumented build) are
# compiled beside them at the lowest priority, on the CPU they leave idle; the
# answer-quality bars run as soon as the binary is built, while the fuzz
# targets may still be compiling. A line every 30 s says it is still going.
test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@mkdir -p bin; ( s=0; while sleep 30; do s=$$((s+30)); echo "  … make test still running ($${s}s)"; done ) & beat=$$!; \
	  trap 'kill $$beat 2>/dev/null' EXIT; set -e; \
	  ( $(MAKE) --no-print-directory browser ) > bin/browser.log 2>&1 & br=$$!; \
	  ( nice -n 19 $(GO) build -o $(BIN) ./cmd/ayuda ) > bin/prebuild.log 2>&1 & pre=$$!; \
	  ( nice -n 19 $(MAKE) --no-print-directory fuzz-build ) > bin/fuzzbuild.log 2>&1 & fz=$$!; \
	  echo "$(GO) vet -race ./...   (the binary and the fuzz targets compile beside it)"; $(GO) vet -race ./...; \
	  wait $$br; cat bin/browser.log; \
	  echo "$(GO) test -race -count=1 ./..."; \
	  status=0; $(GO) test -race -count=1 ./... || status=$$?; \
	  wait $$pre || { cat bin/prebuild.log; exit 1; }; [ $$status -eq 0 ] || exit $$status; \
	  $(MAKE) --no-print-directory test-postgres; \
	  $(MAKE) --no-print-directory eval-check; \
	  wait $$fz || { cat bin/fuzzbuild.log; exit 1; }; \
	  $(MAKE) --no-print-directory fuzz-run

# The queue's tests once more on PostgreSQL (the same behaviour on both
# stores; each test in a schema of its own): AYUDA_TEST_DATABASE_URL, by
# default the local server. go test ./... has already run the tests that
# need PostgreSQL anyway (the store's, and three replicas under kills).
# Without a server they are skipped, saying so, unless
# AYUDA_TEST_POSTGRES=required (CI), which fails them.
test-postgres:
	@echo "AYUDA_TEST_STORE=postgres $(GO) test -race -count=1 ./escalation/"; \
	  AYUDA_TEST_STORE=postgres $(GO) test -race -count=1 ./escalation/

# Chromium for the browser tests of the website chat (bots/web): Debian's
# package, installed when it is missing and this machine can (root, with
# apt-get; about 10 s, plus an apt-get update when the package lists are
# old). make test runs it beside vet. Elsewhere the browser tests say they
# are skipped, unless AYUDA_TEST_BROWSER=required (CI), which fails them.
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -n "$$AYUDA_CHROMIUM" ]; then exit 0; fi; \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "browser: no Chromium, and installing it needs root and apt-get: sudo apt-get install chromium (or set AYUDA_CHROMIUM); the browser tests will be skipped"; exit 0; fi; \
	  echo "browser: installing Debian's chromium for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; } || \
	    echo "browser: apt-get could not install chromium; the browser tests will be skipped"

# Answer quality on the labelled questions of ../shared/eval (CLINC150 and
# Banking77 validation sets, kb-gym-es with its requests for a person;
# docs/quality.md), with bars just under the measured figures so that a
# regression fails. CLINC150 and Banking77 run side by side (their output
# is printed in order); about 20 s on 2 cores once built.
EVAL ?= ../shared/eval
eval-check:
	@if [ ! -d "$(EVAL)/clinc150" ]; then echo "eval-check: $(EVAL) is absent, skipped (docs/quality.md: reproducing the figures from the public datasets)"; exit 0; fi; \
	  set -e; $(GO) build -o $(BIN) ./cmd/ayuda; tmp=$${TMPDIR:-/tmp}; \
	  ./$(BIN) eval --articles $(EVAL)/clinc150/articles.jsonl $(EVAL)/clinc150/val.jsonl --min-accuracy 0.885 --min-oos-recall 0.80 > $$tmp/ayuda-eval-clinc.txt 2>&1 & clinc=$$!; \
	  ./$(BIN) eval --articles $(EVAL)/banking77/articles.jsonl $(EVAL)/banking77/val.jsonl --min-accuracy 0.86 > $$tmp/ayuda-eval-banking.txt 2>&1 & banking=$$!; \
	  cat $(EVAL)/kb-gym-es/questions.jsonl $(EVAL)/kb-gym-es/escalate.jsonl > $$tmp/ayuda-kb-gym-es.jsonl; \
	  ok=0; wait $$clinc || ok=1; cat $$tmp/ayuda-eval-clinc.txt; wait $$banking || ok=1; cat $$tmp/ayuda-eval-banking.txt; \
	  ./$(BIN) eval --articles $(EVAL)/kb-gym-es/articles $$tmp/ayuda-kb-gym-es.jsonl --min-accuracy 0.52 --max-wrong 0.075 --min-oos-recall 0.85 --min-escalation 0.95 || ok=1; \
	  exit $$ok

# Each fuzz target for FUZZTIME, on top of its corpus in testdata/fuzz (which
# plain `go test` replays too). Longer: make fuzz FUZZTIME=10m
# FUZZTIME_HANDLE=10m. Inputs are
# not minimised (-fuzzminimizetime 1x): the engine's coverage varies a
# little from run to run (map order, the clock), so the fuzzer takes many
# inputs for new ones, and minimising each ate FuzzHandle's whole time.
# fuzz-build compiles each target's instrumented test binary into
# bin/fuzz, one package after the other (two go commands at once would
# both compile the same instrumented dependencies); fuzz-run runs them in
# two lanes side by side, one worker each, from their package's folder
# (where their corpus is), with the go command's own fuzz cache. No
# target depends on cmd/ayuda (the metrics, the API), so none of that is
# compiled a third time.
# FuzzHandle runs whole conversations through the engine and the store (a
# few ms an input), so it has a lane and FUZZTIME_HANDLE of its own, long
# enough for thousands of inputs (5,700 to 8,600 in 30 s from empty caches); the
# other targets, at thousands of inputs a second, share the second lane
# (5,800 to 85,000 inputs in 6 s each).
FUZZTIME ?= 6s
FUZZTIME_HANDLE ?= 30s
FUZZ_LANE_A := dialog:FuzzHandle
FUZZ_LANE_B := config:FuzzConfig bots/telegram:FuzzUpdate bots/discord:FuzzDispatch bots/slack:FuzzEnvelope faq:FuzzParse
FUZZ_TARGETS := $(FUZZ_LANE_A) $(FUZZ_LANE_B)
fuzz: fuzz-build
	@$(MAKE) --no-print-directory fuzz-run

fuzz-build:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "compiling $$name ($$pkg) for fuzzing"; \
	  $(GO) test -c -fuzz "^$$name$$" -o bin/fuzz/$$name.test ./$$pkg; done

fuzz-run:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; root=$$(pwd); cache=$$($(GO) env GOCACHE)/fuzz; \
	  lane() { d=$$1; shift; for t in "$$@"; do \
	    pkg=$${t%%:*}; name=$${t##*:}; \
	    echo "fuzz $$name ($$pkg, $$d, 1 worker)"; \
	    ( cd $$pkg && "$$root/bin/fuzz/$$name.test" -test.run '^$$' -test.fuzz "^$$name$$" -test.fuzztime $$d \
	        -test.fuzzminimizetime 1x -test.parallel 1 -test.fuzzcachedir "$$cache/ayuda/$$pkg" ) || return 1; \
	  done; }; \
	  lane $(FUZZTIME_HANDLE) $(FUZZ_LANE_A) > $$tmp/a 2>&1 & a=$$!; lane $(FUZZTIME) $(FUZZ_LANE_B) > $$tmp/b 2>&1 & b=$$!; \
	  ok=0; wait $$a || ok=1; cat $$tmp/a; wait $$b || ok=1; cat $$tmp/b; exit $$ok

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
