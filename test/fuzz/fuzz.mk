# test/fuzz/fuzz.mk - libFuzzer targets for the JSON Schema validator (test/fuzz/README.md).
#
#   make -f test/fuzz/fuzz.mk fuzz-smoke   replay regressions/, then ~60 s of fuzzing; fails on a crash
#   make -f test/fuzz/fuzz.mk fuzz-long    hours of fuzzing (FUZZ_LONG_SECONDS, FUZZ_JOBS)
#
# Two targets: fuzz-validate (JSON text -> js_parse -> js_validate against fixed schemas) and
# fuzz-schema (a schema line, a newline, an instance -> js_compile + js_validate).
# Products and the growing corpora live in $(FUZZ_BUILD); test/fuzz/corpus* are the seeds.

FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

ifndef JSONSCHEMA_SRCS
include test/unit/jsonschema/jsonschema.mk
endif

FUZZ_DIR ?= test/fuzz
FUZZ_BUILD ?= build/fuzz
FUZZ_CC ?= clang
FUZZ_CFLAGS ?= -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 14400
FUZZ_JOBS ?= 4
FUZZ_OPTS ?= -max_len=65536 -timeout=10 -rss_limit_mb=2048 -dict=$(FUZZ_DIR)/json.dict
# extra seed directories, e.g. FUZZ_EXTRA_CORPUS=schemas/examples
FUZZ_EXTRA_CORPUS ?=

FUZZ_DEPS = $(JSONSCHEMA_SRCS) $(JSONSCHEMA_HDRS) $(FUZZ_DIR)/fuzz_jsonschema.c

$(FUZZ_BUILD)/fuzz-validate: $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(JSONSCHEMA_DIR) -o $@ $(JSONSCHEMA_SRCS) $(FUZZ_DIR)/fuzz_jsonschema.c $(JSONSCHEMA_LIBS)

$(FUZZ_BUILD)/fuzz-schema: $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_SCHEMAS -I$(JSONSCHEMA_DIR) -o $@ $(JSONSCHEMA_SRCS) $(FUZZ_DIR)/fuzz_jsonschema.c $(JSONSCHEMA_LIBS)

# A smoke run passes only when the fuzzer exited 0, left no crash artifact, and executed
# inputs (stat::number_of_executed_units > 0): a fuzzer that dies at start-up or runs nothing
# proves nothing. The fuzzer's exit status is kept (no pipe), its log stays in $(FUZZ_BUILD).
FUZZ_CHECK_RUN = FUZZ_ARTIFACTS=$(FUZZ_BUILD)/artifacts $(FUZZ_DIR)/check-run

.PHONY: fuzz-build fuzz-regressions fuzz-smoke fuzz-long

fuzz-build: $(FUZZ_BUILD)/fuzz-validate $(FUZZ_BUILD)/fuzz-schema

# every saved crash input must now pass (files named validate-* or schema-*)
fuzz-regressions: fuzz-build
	@for f in $(wildcard $(FUZZ_DIR)/regressions/validate-*); do \
		$(FUZZ_BUILD)/fuzz-validate $$f > $(FUZZ_BUILD)/replay.log 2>&1 || { cat $(FUZZ_BUILD)/replay.log; exit 1; }; \
		echo "replayed $$f: ok"; done
	@for f in $(wildcard $(FUZZ_DIR)/regressions/schema-*); do \
		$(FUZZ_BUILD)/fuzz-schema $$f > $(FUZZ_BUILD)/replay.log 2>&1 || { cat $(FUZZ_BUILD)/replay.log; exit 1; }; \
		echo "replayed $$f: ok"; done

fuzz-smoke: fuzz-regressions
	@mkdir -p $(FUZZ_BUILD)/corpus-validate $(FUZZ_BUILD)/corpus-schema $(FUZZ_BUILD)/artifacts
	$(FUZZ_BUILD)/fuzz-validate $(FUZZ_OPTS) -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/artifacts/validate- \
		$(FUZZ_BUILD)/corpus-validate $(FUZZ_DIR)/corpus $(FUZZ_EXTRA_CORPUS) > $(FUZZ_BUILD)/smoke-validate.log 2>&1; \
		$(FUZZ_CHECK_RUN) validate $$? $(FUZZ_BUILD)/smoke-validate.log
	$(FUZZ_BUILD)/fuzz-schema $(FUZZ_OPTS) -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/artifacts/schema- \
		$(FUZZ_BUILD)/corpus-schema $(FUZZ_DIR)/corpus-schemas > $(FUZZ_BUILD)/smoke-schema.log 2>&1; \
		$(FUZZ_CHECK_RUN) schema $$? $(FUZZ_BUILD)/smoke-schema.log

fuzz-long: fuzz-regressions
	@mkdir -p $(FUZZ_BUILD)/corpus-validate $(FUZZ_BUILD)/corpus-schema $(FUZZ_BUILD)/artifacts
	$(FUZZ_BUILD)/fuzz-validate $(FUZZ_OPTS) -max_total_time=$(FUZZ_LONG_SECONDS) -jobs=$(FUZZ_JOBS) -workers=$(FUZZ_JOBS) \
		-artifact_prefix=$(FUZZ_BUILD)/artifacts/validate- \
		$(FUZZ_BUILD)/corpus-validate $(FUZZ_DIR)/corpus $(FUZZ_EXTRA_CORPUS) & \
	$(FUZZ_BUILD)/fuzz-schema $(FUZZ_OPTS) -max_total_time=$(FUZZ_LONG_SECONDS) -jobs=$(FUZZ_JOBS) -workers=$(FUZZ_JOBS) \
		-artifact_prefix=$(FUZZ_BUILD)/artifacts/schema- \
		$(FUZZ_BUILD)/corpus-schema $(FUZZ_DIR)/corpus-schemas; \
	wait; test -z "$$(ls $(FUZZ_BUILD)/artifacts/ 2>/dev/null)" || { ls $(FUZZ_BUILD)/artifacts; exit 1; }

.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
