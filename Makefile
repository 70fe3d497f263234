# VideoForge. `make run` starts the whole stack on this machine; `make test` proves it.
GO      ?= go
BIN     := bin/videoforge
DATA    ?= ./.videoforge
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build run test lint bench fuzz deps clean tf-check

all: lint test build

## build: the videoforge binary, version stamped in, in bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/videoforge

## run: every role in one process on embedded defaults, data in $(DATA)
run: deps build
	$(BIN) dev -data $(DATA)

## test: the whole suite, with the race detector, against real PostgreSQL
test: deps
	$(GO) test -race -count=1 -timeout 15m ./...

## tf-check: deploy/terraform: fmt, the HCL test, and validate and a mocked plan per environment
## when the AWS provider is in TF_PLUGIN_DIR (default ~/.terraform-providers); `make test` runs the first two
tf-check:
	terraform fmt -check -recursive deploy/terraform
	$(GO) test -count=1 ./deploy/terraform/
	@sh deploy/terraform/validate.sh

## lint: go vet and a gofmt check
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: the benchmark table (gallery over 1 000 000 videos, ...)
bench: deps build
	$(GO) run ./bench $(BENCHFLAGS)

## fuzz: a short run of every fuzz target (each found in the tests; FUZZTIME each, 30s by default)
FUZZTIME ?= 30s
fuzz:
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/p' $$f); do \
			echo "== $$t in $$(dirname $$f)"; \
			$(GO) test -run XXX -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f)/ || exit 1; \
		done; \
	done

## deps: install what the targets need beyond Go (PostgreSQL's server binaries)
deps:
	@sh scripts/deps.sh

clean:
	rm -rf bin
