# ayuda: `make run` to chat with it in this terminal, `make test` to run every test.
GO ?= go
BIN := bin/ayuda

.PHONY: run test bench build vet fmt clean

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

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
