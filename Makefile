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

## fuzz: a short run of every fuzz target
fuzz:
	$(GO) test -run XXX -fuzz FuzzParseListQuery -fuzztime 30s ./catalog/
	$(GO) test -run XXX -fuzz FuzzSearch -fuzztime 30s ./catalog/postgres/
	$(GO) test -run XXX -fuzz FuzzVerify -fuzztime 30s ./auth/
	$(GO) test -run XXX -fuzz FuzzParseProgress -fuzztime 30s ./transcoder/ffmpeg/

## deps: install what the targets need beyond Go (PostgreSQL's server binaries)
deps:
	@sh scripts/deps.sh

clean:
	rm -rf bin
