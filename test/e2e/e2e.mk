# test/e2e/e2e.mk - the end-to-end tests' tools, and the worker's tests and benchmark.
# Included by the top-level Makefile (or run alone: make -f test/e2e/e2e.mk hubtool).
#
#   make e2e-tools      build test/e2e/tools/hubtool (librabbitmq client for the tests)
#   make e2e-worker     run test/e2e/worker/run (needs make install first)
#   make bench-pipeline run test/bench/pipeline (prints rates; not a timed test)

E2E_CC      ?= cc
E2E_CFLAGS  ?= -std=gnu11 -O2 -Wall -Wextra -Werror
HUBTOOL      = test/e2e/tools/hubtool

.PHONY: e2e-tools e2e-worker bench-pipeline
e2e-tools: $(HUBTOOL)

$(HUBTOOL): test/e2e/tools/hubtool.c
	$(E2E_CC) $(E2E_CFLAGS) -o $@ $< -lrabbitmq -lpthread

e2e-worker: $(HUBTOOL)
	test/e2e/worker/run

bench-pipeline: $(HUBTOOL)
	test/bench/pipeline
