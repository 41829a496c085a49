# Centralized License Service — developer commands. `make help` lists them.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 20s
GOARCH_LAMBDA ?= arm64

# The AWS Lambda Runtime Interface Emulator, built from source at a pinned
# version into bin/tools/ (once): `make invoke` and the emulator tests
# (tests/rie_test.go) run the functions' bootstraps under it.
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE := bin/tools/aws-lambda-rie

# Every Lambda function: the directory under functions/ is its use case, and
# template.yaml names it <CamelCase>Function with USE_CASE set to that name.
FUNCTIONS := health create-product list-products provision-license list-licenses \
	get-license renew-license suspend-license resume-license cancel-license free-seat \
	activate-license check-license deactivate-seat authorize-brand publish-events license-events \
	product-keys openapi edd reclaim-seats notify-expiries create-release list-releases publish-release yank-release product-updates \
	create-webhook list-webhooks delete-webhook rotate-webhook-secret list-webhook-deliveries \
	retry-webhook-delivery deliver-webhooks

.PHONY: help run test check unit fuzz build clean

# The API contract's npm tools (Redocly CLI, openapi-to-postmanv2, newman),
# pinned in tools/package-lock.json and installed into tools/node_modules by
# `npm ci` (no global install). Redocly's telemetry and update check are off:
# nothing calls out while the tests run.
NPM_TOOLS := tools/node_modules/.package-lock.json
REDOCLY := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true tools/node_modules/.bin/redocly

help: ## list the targets
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

# The addresses of `make run`: the API, the embedded DynamoDB engine and the
# embedded S3 server (`make run API_ADDR=127.0.0.1:3999 DYNAMODB_ADDR=...`).
# `make invoke` takes DYNAMODB_ADDR and S3_ADDR too: those of the `make run`
# it talks to.
API_ADDR ?= 127.0.0.1:3000
DYNAMODB_ADDR ?= 127.0.0.1:8000
S3_ADDR ?= 127.0.0.1:9000

run: ## run the whole API on API_ADDR (127.0.0.1:3000), embedded DynamoDB on DYNAMODB_ADDR (127.0.0.1:8000) and S3 on S3_ADDR (127.0.0.1:9000), its reference on /docs/
	@$(MAKE) --no-print-directory docs/api.html || echo "(the API reference docs/api.html could not be built: make docs tells why)"
	$(GO) run ./cmd/local-api -addr "$(API_ADDR)" -dynamodb-addr "$(DYNAMODB_ADDR)" -s3-addr "$(S3_ADDR)"

test: $(RIE) $(NPM_TOOLS) check lint-api unit engine ## everything a change must pass: format, vet, staticcheck, the API contract's lint, all tests with the race detector (the contract's among them), the engine fork's tests

$(NPM_TOOLS): tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: tools lint-api api-json docs postman newman
tools: $(NPM_TOOLS) ## install the API contract's npm tools (pinned in tools/package-lock.json) into tools/node_modules

lint-api: $(NPM_TOOLS) ## lint api/openapi.yaml with Redocly CLI (recommended rules; a warning fails)
	$(REDOCLY) lint --config api/redocly.yaml api/openapi.yaml

api-json: ## rewrite api/openapi.json (what the openapi function serves) from api/openapi.yaml
	$(GO) test ./api -run '^TestJSONIsTheDocument$$' -count=1 -update

docs: docs/api.html ## build the API reference, docs/api.html: one self-contained HTML file (Redocly)

docs/api.html: api/openapi.yaml api/redocly.yaml $(NPM_TOOLS)
	$(REDOCLY) build-docs --inlineBundle --config api/redocly.yaml api/openapi.yaml --output $@

postman: $(NPM_TOOLS) ## generate the Postman collection, docs/postman_collection.json (baseUrl and apiKey: the local demo)
	node tools/postman.js api/openapi.yaml docs/postman_collection.json

newman: postman ## run the Postman collection with newman against a fresh local service; every status must be documented
	tools/newman.sh docs/postman_collection.json

check: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit: ## all tests (unit, adapter, end-to-end, fuzz seed corpora) with the race detector
	$(GO) test -race -count=1 ./...

# The embedded engine is minidyn with a patch that makes a call's cost
# independent of the table's size (third_party/minidyn, used through a
# replace in go.mod; see its PATCHES.md). Its own tests run here. Its server
# tests build an SDK client that AWS_CA_BUNDLE (set on some machines) breaks.
.PHONY: engine
engine: ## the engine fork's own tests (core and server)
	cd third_party/minidyn && env -u AWS_CA_BUNDLE $(GO) test -count=1 ./core/ ./server/ ./interpreter/... ./types/

fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

build: ## build every function as a Lambda bootstrap for linux/arm64 under bin/<function>/
	@set -e; for fn in $(FUNCTIONS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH_LAMBDA) $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" \
	    -o bin/$$fn/bootstrap ./functions/$$fn; \
	done; \
	echo "linux/$(GOARCH_LAMBDA) bootstraps (1 MB = 1000000 bytes, 1 MiB = 1048576 bytes):"; \
	for fn in $(FUNCTIONS); do wc -c < bin/$$fn/bootstrap | awk -v f=bin/$$fn/bootstrap \
	  '{ printf "  %-38s %6.2f MB  %6.2f MiB  %9d bytes\n", f, $$1 / 1e6, $$1 / 1048576, $$1 }'; \
	done

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR.
define sam_target
build-$(1):
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH_LAMBDA) $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" \
	  -o $$(ARTIFACTS_DIR)/bootstrap ./functions/$(2)
endef
# camel turns a function's directory name into its logical ID's CamelCase
# (reclaim-seats → ReclaimSeats) with make functions alone, no shell: each
# word's first letter is upper-cased by the patsubst of its pair a:A … z:Z.
upper_pairs := a:A b:B c:C d:D e:E f:F g:G h:H i:I j:J k:K l:L m:M n:N o:O p:P q:Q r:R s:S t:T u:U v:V w:W x:X y:Y z:Z
ucfirst = $(if $(2),$(call ucfirst,$(patsubst $(firstword $(subst :, ,$(firstword $(2))))%,$(lastword $(subst :, ,$(firstword $(2))))%,$(1)),$(wordlist 2,$(words $(2)),$(2))),$(1))
camel = $(subst $(space),,$(call ucfirst,$(subst -, ,$(1)),$(upper_pairs)))
space := $(empty) $(empty)
$(foreach fn,$(FUNCTIONS),$(eval $(call sam_target,$(call camel,$(fn))Function,$(fn))))

clean: ## remove build output
	rm -rf bin .aws-sam

BENCHTIME ?= 300x
BENCHCOUNT ?= 5

.PHONY: bench
bench: ## benchmark check, activate and updates through the full handler stack next to their bare DynamoDB (and presign) calls, and on keys with 1 and 2,000 seats
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./internal/apigw/ | tee bench.out
	@med() { grep "^$$1-" bench.out | awk '{print $$3}' | sort -n | awk '{a[NR]=$$1} END {print a[int((NR+1)/2)]}'; }; \
	  for p in Check Activate; do h=$$(med "Benchmark$${p}Handler/seats=1"); k=$$(med "Benchmark$${p}Handler/seats=2000"); d=$$(med Benchmark$${p}DynamoDB); \
	    echo "$$p: median $$h ns/op through the handler, $$d ns/op bare DynamoDB: the handler adds $$(( (h - d) * 100 / d ))%"; \
	    echo "$$p: median $$k ns/op on a key with 2,000 seats, $$h ns/op with 1: $$(( (k - h) * 100 / h ))%"; done; \
	  h=$$(med BenchmarkUpdatesHandler); d=$$(med BenchmarkUpdatesDynamoDB); \
	  echo "Updates: median $$h ns/op through the handler, $$d ns/op bare DynamoDB and presign: the handler adds $$(( (h - d) * 100 / d ))%"

.PHONY: bench-table
bench-table: ## check and activate on tables of 1k, 10k and 100k items: the local engine's cost per request against the table's size
	$(GO) test -run '^$$' -bench 'TableSize' -benchtime $(BENCHTIME) -count 1 ./internal/apigw/ | tee bench-table.out

.PHONY: hot-key
hot-key: ## 400 sites activated at once on a key with 2,000 seats (make test runs 50 under the race detector)
	$(GO) test -count=1 -run '^TestParallelActivationsOnABigKey$$' -v ./internal/app/ -args -hot-key-sites=400

.PHONY: rie invoke
rie: $(RIE) ## install the AWS Lambda Runtime Interface Emulator into bin/tools/ (once)

$(RIE):
	GOBIN=$(CURDIR)/bin/tools CGO_ENABLED=0 $(GO) install \
	  github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

FN ?=
EVENT ?=
RUNS ?= 1
LOG_LEVEL ?= INFO
STANDALONE ?=
# The function talks to the engine and S3 of a running `make run`: at
# DYNAMODB_ADDR and S3_ADDR when given (on the command line or in the
# environment), else at DYNAMODB_ENDPOINT and S3_ENDPOINT, else at make run's
# defaults. invoke prints the DynamoDB endpoint it uses and fails when nothing
# answers there; STANDALONE=1 starts the local service in its process instead.
invoke: $(RIE) ## run a function under the Lambda emulator against make run's engine: make invoke FN=check-license EVENT=events/check-license.json [RUNS=n] [DYNAMODB_ADDR=… S3_ADDR=…] [STANDALONE=1]
	@$(GO) run ./cmd/invoke -fn "$(FN)" -event "$(EVENT)" -runs "$(RUNS)" -log-level "$(LOG_LEVEL)" -rie $(RIE) \
	  $(if $(filter-out file,$(origin DYNAMODB_ADDR)),-dynamodb-endpoint "http://$(DYNAMODB_ADDR)") \
	  $(if $(filter-out file,$(origin S3_ADDR)),-s3-endpoint "http://$(S3_ADDR)") \
	  $(if $(filter-out 0 false,$(STANDALONE)),-standalone)

# A bounded load test on loopback only: CLIENTS clients for DURATION (at most
# 2,000,000 requests) against the service started in-process on free
# 127.0.0.1 ports, then an audit of the whole table; exits non-zero on any
# 5xx or violated invariant. LOADFLAGS='-url http://127.0.0.1:3000' targets a
# running `make run` (its engine on 127.0.0.1:8000) instead.
CLIENTS ?= 16
DURATION ?= 20s
LOADFLAGS ?=

.PHONY: load
load: ## load test on loopback: CLIENTS (16) clients for DURATION (20s), then a table audit
	$(GO) run ./cmd/loadgen -clients $(CLIENTS) -duration $(DURATION) $(LOADFLAGS)
