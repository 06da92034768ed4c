# Node 22 comes from the `node` npm package (node_modules/.bin/node); putting node_modules/.bin
# first on PATH makes every recipe, and the tools they start, use it instead of the system Node.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

CERTS_DIR ?= .dev-certs
PORT ?= 8443
SERVICE ?= tenantguard
NAMESPACE ?= tenantguard
# The kustomization `make manifests` renders: base, overlays/mtls, overlays/monitoring (under
# manifests/), or KUSTOMIZATION=DIR for one of your own.
OVERLAY ?= base
KUSTOMIZATION ?= manifests/$(OVERLAY)
CA_BUNDLE ?=
MANIFESTS_OUT ?= dist/manifests
TG := node dist/server/commands/cli.js
# The version is package.json's, everywhere: the image tag and labels here, --version,
# tenantguard_build_info and service.version at run time (server/version.ts).
VERSION := $(shell node -p "require('./package.json').version")
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE ?= tenantguard

.PHONY: install build typecheck test run certs manifests replay audit bench image clean

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: node_modules/.installed

dist/.built: node_modules/.installed $(shell find server policies certs -name '*.ts' 2>/dev/null) tsconfig.json tsconfig.build.json
	rm -rf dist && tsc -p tsconfig.build.json
	touch $@

build: dist/.built

typecheck: install
	tsc -p tsconfig.json

test: install
	npm test

certs: build
	$(TG) certs --out $(CERTS_DIR) --service $(SERVICE) --namespace $(NAMESPACE)

run: certs
	$(TG) serve --host 127.0.0.1 --port $(PORT) --cert $(CERTS_DIR)/tls.crt --key $(CERTS_DIR)/tls.key

# Never makes a CA: the base manages its own certificates (the webhooks' caBundle is set at runtime),
# cert-manager injects its CA; CA_BUNDLE=FILE (e.g. .dev-certs/caBundle after `make certs`) bakes
# a CA you made into the webhooks.
manifests:
	node --import=tsx manifests/render.ts $(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE)) --out $(MANIFESTS_OUT) --kustomization $(KUSTOMIZATION)

replay: build
	$(TG) replay --state server/embedded-state --expect test/fixtures/examples/expectations.yaml test/fixtures/examples

audit: build
	$(TG) audit --state server/embedded-state

image:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE):$(VERSION) .

# BENCH_ARGS shortens a run, e.g. "--duration 4 --rounds 2 --reviews 200000 --quick" (test/bench/run.ts).
BENCH_ARGS ?=
bench: install
	npm run bench -- $(BENCH_ARGS)

clean:
	rm -rf dist $(CERTS_DIR) .tap
