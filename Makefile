# ayuda: `make run` to chat with it in this terminal, `make test` to run every test.
GO ?= go
BIN := bin/ayuda

.PHONY: run test fuzz bench build vet fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/ayuda

run: build
	./$(BIN) serve

# Every test, with the race detector, after vet and a gofmt check.
test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz

# Each fuzz target for FUZZTIME, on top of its corpus in testdata/fuzz (which
# plain `go test` replays too). Longer: make fuzz FUZZTIME=10m.
FUZZTIME ?= 5s
FUZZ_TARGETS := dialog:FuzzHandle faq:FuzzParse cmd/ayuda:FuzzConfig
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
