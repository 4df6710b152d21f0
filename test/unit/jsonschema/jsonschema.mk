# test/unit/jsonschema/jsonschema.mk - build and test the JSON Schema validator on its own
# (plain make, no PGXS). Included by the top-level Makefile, or standalone from the repo root:
#
#   make -f test/unit/jsonschema/jsonschema.mk jsonschema-unit jsonschema-suite
#
# Targets:
#   jsonschema-unit      build and run the unit tests (TAP)
#   jsonschema-suite     run the JSON-Schema-Test-Suite: draft2020-12 and draft7 required tests,
#                        then the format tests (date-time, date, time, email, uuid, uri,
#                        uri-reference, ipv4, ipv6) with format asserted
#   jsonschema-optional  the suite's optional tests, informational (never fails the build)
#   jsonschema-valgrind  unit tests and the draft2020-12 suite under valgrind
#   jsonschema-asan      unit tests and suite built with ASan + UBSan
#   jsonschema-bench     parse + validate throughput on schemas/examples (JSONSCHEMA_BENCH_ITER)
#   jsonschema-clean     remove $(JSONSCHEMA_BUILD)
#
# Build products go to $(JSONSCHEMA_BUILD) (build/jsonschema, gitignored).

JSONSCHEMA_SAVED_GOAL := $(.DEFAULT_GOAL)

JSONSCHEMA_DIR ?= extension/jsonschema
JSONSCHEMA_TEST_DIR ?= test/unit/jsonschema
JSONSCHEMA_BUILD ?= build/jsonschema
# The official suite stays outside the repository (third-party): HUBLINK_TESTDATA, default
# ../shared/testdata. Where it is missing the suite runs below are skipped with a message
# (test/run-all says so loudly, and fails under CI=true).
HUBLINK_TESTDATA ?= ../shared/testdata
JSONSCHEMA_SUITE_DIR ?= $(HUBLINK_TESTDATA)/JSON-Schema-Test-Suite
JSONSCHEMA_HAVE_SUITE = test -d $(JSONSCHEMA_SUITE_DIR)/tests || { echo "SKIPPED: no JSON-Schema-Test-Suite at $(JSONSCHEMA_SUITE_DIR) (set HUBLINK_TESTDATA)"; exit 0; }
# test ids the suite may fail (file | group | test); empty: every required test must pass
JSONSCHEMA_ALLOW_FAILURES ?= $(JSONSCHEMA_TEST_DIR)/allowed-failures.txt

JSONSCHEMA_SRCS := \
	$(JSONSCHEMA_DIR)/compile.c \
	$(JSONSCHEMA_DIR)/document.c \
	$(JSONSCHEMA_DIR)/format.c \
	$(JSONSCHEMA_DIR)/kw_array.c \
	$(JSONSCHEMA_DIR)/kw_object.c \
	$(JSONSCHEMA_DIR)/kw_scalar.c \
	$(JSONSCHEMA_DIR)/metaschema.c \
	$(JSONSCHEMA_DIR)/number.c \
	$(JSONSCHEMA_DIR)/parse.c \
	$(JSONSCHEMA_DIR)/pointer.c \
	$(JSONSCHEMA_DIR)/regex.c \
	$(JSONSCHEMA_DIR)/regex_fast.c \
	$(JSONSCHEMA_DIR)/registry.c \
	$(JSONSCHEMA_DIR)/uri.c \
	$(JSONSCHEMA_DIR)/utf8.c \
	$(JSONSCHEMA_DIR)/util.c \
	$(JSONSCHEMA_DIR)/validate.c
JSONSCHEMA_HDRS := $(JSONSCHEMA_DIR)/jsonschema.h $(JSONSCHEMA_DIR)/js_internal.h


JSONSCHEMA_CC ?= cc
JSONSCHEMA_SAN_CC ?= clang
JSONSCHEMA_CFLAGS ?= -std=c11 -Wall -Wextra -Werror -O2 -g
JSONSCHEMA_SAN_FLAGS ?= -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
JSONSCHEMA_ALL_CFLAGS = $(JSONSCHEMA_CFLAGS) -I$(JSONSCHEMA_DIR) -Itest/lib
# File reading shared by the suite runner, the bench and test/bench/validate.
JSONSCHEMA_TEST_FILES = test/lib/test_files.c test/lib/test_files.h
JSONSCHEMA_LIBS = -lm
JSONSCHEMA_VALGRIND ?= valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --quiet

JSONSCHEMA_ALLOW_ARG = $(if $(wildcard $(JSONSCHEMA_ALLOW_FAILURES)),--allow-failures $(JSONSCHEMA_ALLOW_FAILURES))

$(JSONSCHEMA_BUILD)/unit-tests: $(JSONSCHEMA_SRCS) $(JSONSCHEMA_HDRS) $(JSONSCHEMA_TEST_DIR)/unit_tests.c
	@mkdir -p $(@D)
	$(JSONSCHEMA_CC) $(JSONSCHEMA_ALL_CFLAGS) -o $@ $(JSONSCHEMA_SRCS) $(JSONSCHEMA_TEST_DIR)/unit_tests.c $(JSONSCHEMA_LIBS)

$(JSONSCHEMA_BUILD)/suite-runner: $(JSONSCHEMA_SRCS) $(JSONSCHEMA_HDRS) $(JSONSCHEMA_TEST_DIR)/suite_runner.c $(JSONSCHEMA_TEST_FILES)
	@mkdir -p $(@D)
	$(JSONSCHEMA_CC) $(JSONSCHEMA_ALL_CFLAGS) -o $@ $(JSONSCHEMA_SRCS) $(JSONSCHEMA_TEST_DIR)/suite_runner.c test/lib/test_files.c $(JSONSCHEMA_LIBS)

$(JSONSCHEMA_BUILD)/asan/unit-tests: $(JSONSCHEMA_SRCS) $(JSONSCHEMA_HDRS) $(JSONSCHEMA_TEST_DIR)/unit_tests.c
	@mkdir -p $(@D)
	$(JSONSCHEMA_SAN_CC) $(JSONSCHEMA_ALL_CFLAGS) -O1 $(JSONSCHEMA_SAN_FLAGS) -o $@ $(JSONSCHEMA_SRCS) $(JSONSCHEMA_TEST_DIR)/unit_tests.c $(JSONSCHEMA_LIBS)

$(JSONSCHEMA_BUILD)/asan/suite-runner: $(JSONSCHEMA_SRCS) $(JSONSCHEMA_HDRS) $(JSONSCHEMA_TEST_DIR)/suite_runner.c $(JSONSCHEMA_TEST_FILES)
	@mkdir -p $(@D)
	$(JSONSCHEMA_SAN_CC) $(JSONSCHEMA_ALL_CFLAGS) -O1 $(JSONSCHEMA_SAN_FLAGS) -o $@ $(JSONSCHEMA_SRCS) $(JSONSCHEMA_TEST_DIR)/suite_runner.c test/lib/test_files.c $(JSONSCHEMA_LIBS)

$(JSONSCHEMA_BUILD)/bench: $(JSONSCHEMA_SRCS) $(JSONSCHEMA_HDRS) $(JSONSCHEMA_TEST_DIR)/bench.c $(JSONSCHEMA_TEST_FILES)
	@mkdir -p $(@D)
	$(JSONSCHEMA_CC) $(JSONSCHEMA_ALL_CFLAGS) -o $@ $(JSONSCHEMA_SRCS) $(JSONSCHEMA_TEST_DIR)/bench.c test/lib/test_files.c $(JSONSCHEMA_LIBS)

.PHONY: jsonschema-unit jsonschema-suite jsonschema-optional jsonschema-valgrind jsonschema-asan jsonschema-bench jsonschema-clean

JSONSCHEMA_BENCH_ITER ?= 5000
jsonschema-bench: $(JSONSCHEMA_BUILD)/bench
	$(JSONSCHEMA_BUILD)/bench schemas $(JSONSCHEMA_BENCH_ITER)

jsonschema-unit: $(JSONSCHEMA_BUILD)/unit-tests
	$(JSONSCHEMA_BUILD)/unit-tests

# each run prints its failures and ends with "<draft>: N passed, M failed"
jsonschema-suite: $(JSONSCHEMA_BUILD)/suite-runner
	@$(JSONSCHEMA_HAVE_SUITE); for args in "draft2020-12" "draft7" "draft2020-12 --format" "draft7 --format"; do \
		echo "== suite-runner $$args"; \
		$(JSONSCHEMA_BUILD)/suite-runner $(JSONSCHEMA_SUITE_DIR) $$args $(JSONSCHEMA_ALLOW_ARG) > $(JSONSCHEMA_BUILD)/suite.log; rc=$$?; \
		grep -E '^  FAIL|^      error' $(JSONSCHEMA_BUILD)/suite.log; tail -n 1 $(JSONSCHEMA_BUILD)/suite.log; \
		[ $$rc -eq 0 ] || exit 1; \
	done

jsonschema-optional: $(JSONSCHEMA_BUILD)/suite-runner
	-@for d in draft2020-12 draft7; do \
		$(JSONSCHEMA_BUILD)/suite-runner $(JSONSCHEMA_SUITE_DIR) $$d --optional | grep -v '^      error'; \
	done

jsonschema-valgrind: $(JSONSCHEMA_BUILD)/unit-tests $(JSONSCHEMA_BUILD)/suite-runner
	$(JSONSCHEMA_VALGRIND) $(JSONSCHEMA_BUILD)/unit-tests > $(JSONSCHEMA_BUILD)/valgrind-unit.log || { cat $(JSONSCHEMA_BUILD)/valgrind-unit.log; exit 1; }
	@tail -n 1 $(JSONSCHEMA_BUILD)/valgrind-unit.log
	@$(JSONSCHEMA_HAVE_SUITE); \
	$(JSONSCHEMA_VALGRIND) $(JSONSCHEMA_BUILD)/suite-runner $(JSONSCHEMA_SUITE_DIR) draft2020-12 $(JSONSCHEMA_ALLOW_ARG) > $(JSONSCHEMA_BUILD)/valgrind-suite.log 2>&1 || { grep -v '^  ' $(JSONSCHEMA_BUILD)/valgrind-suite.log | tail -n 40; exit 1; }; \
	tail -n 1 $(JSONSCHEMA_BUILD)/valgrind-suite.log

jsonschema-asan: $(JSONSCHEMA_BUILD)/asan/unit-tests $(JSONSCHEMA_BUILD)/asan/suite-runner
	$(JSONSCHEMA_BUILD)/asan/unit-tests > $(JSONSCHEMA_BUILD)/asan-unit.log || { cat $(JSONSCHEMA_BUILD)/asan-unit.log; exit 1; }
	@tail -n 1 $(JSONSCHEMA_BUILD)/asan-unit.log
	@$(JSONSCHEMA_HAVE_SUITE); for args in "draft2020-12" "draft7" "draft2020-12 --format" "draft7 --format"; do \
		$(JSONSCHEMA_BUILD)/asan/suite-runner $(JSONSCHEMA_SUITE_DIR) $$args $(JSONSCHEMA_ALLOW_ARG) > $(JSONSCHEMA_BUILD)/asan-suite.log 2>&1; rc=$$?; \
		tail -n 1 $(JSONSCHEMA_BUILD)/asan-suite.log; \
		[ $$rc -eq 0 ] || { grep -E 'ERROR|runtime error|FAIL' $(JSONSCHEMA_BUILD)/asan-suite.log | head -20; exit 1; }; \
	done

jsonschema-clean:
	rm -rf $(JSONSCHEMA_BUILD)

.DEFAULT_GOAL := $(JSONSCHEMA_SAVED_GOAL)
