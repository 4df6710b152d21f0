# test/unit/statemachine/statemachine.mk - build and test the removal state machine on its own
# (plain make, no PGXS, no PostgreSQL headers). From the repo root:
#
#   make -f test/unit/statemachine/statemachine.mk statemachine-unit
#
# Targets:
#   statemachine-unit      build and run the unit tests (TAP; closing line
#                          "statemachine: N passed, M failed")
#   statemachine-valgrind  the unit tests under valgrind (no errors, no leaks)
#   statemachine-asan      the unit tests built with ASan + UBSan
#   statemachine-fuzz      a short libFuzzer run (ASan + UBSan), STATEMACHINE_FUZZ_SECONDS (20)
#   statemachine-diagrams  print docs/state-machine.md to stdout (scripts/gen-state-diagrams)
#   statemachine-clean     remove $(STATEMACHINE_BUILD)
#
# Build products go to $(STATEMACHINE_BUILD) (build/statemachine, gitignored).

STATEMACHINE_SAVED_GOAL := $(.DEFAULT_GOAL)

STATEMACHINE_DIR ?= extension/statemachine
STATEMACHINE_TEST_DIR ?= test/unit/statemachine
STATEMACHINE_BUILD ?= build/statemachine

STATEMACHINE_SRCS := $(STATEMACHINE_DIR)/statemachine.c
STATEMACHINE_HDRS := $(STATEMACHINE_DIR)/statemachine.h

STATEMACHINE_CC ?= cc
STATEMACHINE_SAN_CC ?= clang
STATEMACHINE_CFLAGS ?= -std=c11 -Wall -Wextra -Werror -O2 -g
STATEMACHINE_SAN_FLAGS ?= -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
STATEMACHINE_ALL_CFLAGS = $(STATEMACHINE_CFLAGS) -I$(STATEMACHINE_DIR)
STATEMACHINE_VALGRIND ?= valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --quiet

$(STATEMACHINE_BUILD)/unit-tests: $(STATEMACHINE_SRCS) $(STATEMACHINE_HDRS) $(STATEMACHINE_TEST_DIR)/unit_tests.c $(STATEMACHINE_TEST_DIR)/golden_transitions.h
	@mkdir -p $(@D)
	$(STATEMACHINE_CC) $(STATEMACHINE_ALL_CFLAGS) -o $@ $(STATEMACHINE_SRCS) $(STATEMACHINE_TEST_DIR)/unit_tests.c

$(STATEMACHINE_BUILD)/asan/unit-tests: $(STATEMACHINE_SRCS) $(STATEMACHINE_HDRS) $(STATEMACHINE_TEST_DIR)/unit_tests.c $(STATEMACHINE_TEST_DIR)/golden_transitions.h
	@mkdir -p $(@D)
	$(STATEMACHINE_SAN_CC) $(STATEMACHINE_ALL_CFLAGS) -O1 $(STATEMACHINE_SAN_FLAGS) -o $@ $(STATEMACHINE_SRCS) $(STATEMACHINE_TEST_DIR)/unit_tests.c

$(STATEMACHINE_BUILD)/gen-diagrams: $(STATEMACHINE_SRCS) $(STATEMACHINE_HDRS) $(STATEMACHINE_TEST_DIR)/gen_diagrams.c
	@mkdir -p $(@D)
	$(STATEMACHINE_CC) $(STATEMACHINE_ALL_CFLAGS) -o $@ $(STATEMACHINE_SRCS) $(STATEMACHINE_TEST_DIR)/gen_diagrams.c

$(STATEMACHINE_BUILD)/fuzz: $(STATEMACHINE_SRCS) $(STATEMACHINE_HDRS) $(STATEMACHINE_TEST_DIR)/fuzz_statemachine.c
	@mkdir -p $(@D)
	$(STATEMACHINE_SAN_CC) $(STATEMACHINE_ALL_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $(STATEMACHINE_SRCS) $(STATEMACHINE_TEST_DIR)/fuzz_statemachine.c

STATEMACHINE_FUZZ_SECONDS ?= 8

.PHONY: statemachine-unit statemachine-valgrind statemachine-asan statemachine-fuzz statemachine-diagrams statemachine-clean

# passes only when the fuzzer exits 0, leaves no crash and executed inputs (test/fuzz/check-run)
statemachine-fuzz: $(STATEMACHINE_BUILD)/fuzz
	@mkdir -p $(STATEMACHINE_BUILD)/fuzz-corpus
	@rm -rf $(STATEMACHINE_BUILD)/fuzz-artifacts && mkdir -p $(STATEMACHINE_BUILD)/fuzz-artifacts
	$(STATEMACHINE_BUILD)/fuzz -max_total_time=$(STATEMACHINE_FUZZ_SECONDS) -max_len=256 -print_final_stats=1 \
		-artifact_prefix=$(STATEMACHINE_BUILD)/fuzz-artifacts/ $(STATEMACHINE_BUILD)/fuzz-corpus > $(STATEMACHINE_BUILD)/fuzz.log 2>&1; \
		FUZZ_ARTIFACTS=$(STATEMACHINE_BUILD)/fuzz-artifacts test/fuzz/check-run statemachine $$? $(STATEMACHINE_BUILD)/fuzz.log

statemachine-unit: $(STATEMACHINE_BUILD)/unit-tests
	$(STATEMACHINE_BUILD)/unit-tests

statemachine-valgrind: $(STATEMACHINE_BUILD)/unit-tests
	$(STATEMACHINE_VALGRIND) $(STATEMACHINE_BUILD)/unit-tests > $(STATEMACHINE_BUILD)/valgrind-unit.log || { tail -n 40 $(STATEMACHINE_BUILD)/valgrind-unit.log; exit 1; }
	@tail -n 1 $(STATEMACHINE_BUILD)/valgrind-unit.log

statemachine-asan: $(STATEMACHINE_BUILD)/asan/unit-tests
	$(STATEMACHINE_BUILD)/asan/unit-tests > $(STATEMACHINE_BUILD)/asan-unit.log || { grep -E 'not ok|ERROR|runtime error' $(STATEMACHINE_BUILD)/asan-unit.log | head -40; exit 1; }
	@tail -n 1 $(STATEMACHINE_BUILD)/asan-unit.log

statemachine-diagrams: $(STATEMACHINE_BUILD)/gen-diagrams
	@$(STATEMACHINE_BUILD)/gen-diagrams

statemachine-clean:
	rm -rf $(STATEMACHINE_BUILD)

.DEFAULT_GOAL := $(STATEMACHINE_SAVED_GOAL)
