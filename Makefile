# ayuda: `make run` to chat with it in this terminal, `make test` to run every test.
GO ?= go
# The Go release with the current security fixes (govulncheck found
# standard-library vulnerabilities reachable from ayuda in go1.26.8 that
# go1.27.3 fixes); the go command fetches it from the module proxy on first
# use, about 4 s.
export GOTOOLCHAIN := go1.27.3
BIN := bin/ayuda

.PHONY: run test eval-check fuzz bench build vet fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/ayuda

# make run HTTP=127.0.0.1:8081 serves the API on another address; make run
# AS=maria chats as maria (default: $$USER, or "cliente").
HTTP ?=
AS ?=
run: build
	AYUDA_HTTP=$(HTTP) ./$(BIN) serve $(if $(AS),--as $(AS))

# Every test, with the race detector, after vet and a gofmt check. A line
# every 30 s says the tests are still running (packages print when done).
test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@echo "$(GO) test -race -count=1 ./..."; \
	  ( s=0; while sleep 30; do s=$$((s+30)); echo "  … tests still running ($${s}s)"; done ) & beat=$$!; \
	  $(GO) test -race -count=1 ./...; status=$$?; kill $$beat 2>/dev/null; exit $$status
	$(MAKE) --no-print-directory eval-check
	$(MAKE) --no-print-directory fuzz

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
	  ./$(BIN) eval --articles $(EVAL)/banking77/articles.jsonl $(EVAL)/banking77/val.jsonl --min-accuracy 0.865 > $$tmp/ayuda-eval-banking.txt 2>&1 & banking=$$!; \
	  cat $(EVAL)/kb-gym-es/questions.jsonl $(EVAL)/kb-gym-es/escalate.jsonl > $$tmp/ayuda-kb-gym-es.jsonl; \
	  ok=0; wait $$clinc || ok=1; cat $$tmp/ayuda-eval-clinc.txt; wait $$banking || ok=1; cat $$tmp/ayuda-eval-banking.txt; \
	  ./$(BIN) eval --articles $(EVAL)/kb-gym-es/articles $$tmp/ayuda-kb-gym-es.jsonl --min-accuracy 0.52 --max-wrong 0.075 --min-oos-recall 0.85 --min-escalation 0.95 || ok=1; \
	  exit $$ok

# Each fuzz target for FUZZTIME, on top of its corpus in testdata/fuzz (which
# plain `go test` replays too). Longer: make fuzz FUZZTIME=10m. Inputs are
# not minimised (-fuzzminimizetime 1x): the engine's coverage varies a
# little from run to run (map order, the clock), so the fuzzer takes many
# inputs for new ones, and minimising each ate FuzzHandle's whole time
# (8 inputs in 5 s; now about 250 per worker). The six targets run in two
# lanes side by side, one worker each, so their compiling overlaps.
FUZZTIME ?= 8s
FUZZ_TARGETS := dialog:FuzzHandle faq:FuzzParse cmd/ayuda:FuzzConfig bots/telegram:FuzzUpdate bots/discord:FuzzDispatch bots/slack:FuzzEnvelope
fuzz:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  lane() { for t in "$$@"; do \
	    pkg=$${t%%:*}; name=$${t##*:}; \
	    echo "fuzz $$name ($$pkg, $(FUZZTIME), 1 worker)"; \
	    $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1x -parallel 1 ./$$pkg || return 1; \
	  done; }; \
	  i=0; A=; B=; for t in $(FUZZ_TARGETS); do \
	    if [ $$((i % 2)) -eq 0 ]; then A="$$A $$t"; else B="$$B $$t"; fi; i=$$((i + 1)); done; \
	  lane $$A > $$tmp/a 2>&1 & a=$$!; lane $$B > $$tmp/b 2>&1 & b=$$!; \
	  ok=0; wait $$a || ok=1; cat $$tmp/a; wait $$b || ok=1; cat $$tmp/b; exit $$ok

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
