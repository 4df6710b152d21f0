# hublink: PGXS build of one hublink.so, and the test targets.
#
#   make              build            make install       install (needs write access to PG dirs)
#   make check        every test on a throwaway stack (see test/README.md)
#   make demo         the main job: a local Hub, TSP and ESP on a real broker
#   make format       apply .clang-format    make format-check    verify it (part of make check)

EXTENSION   = hublink
# The current version. Released install scripts (sql/hublink--0.1.0.sql) are committed as they
# shipped and never rebuilt; the current one and every update script are built from parts.
EXTVERSION  = 0.2.0
MODULE_big  = hublink
PG_CONFIG  ?= pg_config

C_SOURCES   = $(sort $(wildcard extension/*.c extension/jsonschema/*.c extension/statemachine/*.c bgworker/*.c))
OBJS        = $(C_SOURCES:.c=.o)
# Update scripts are built from sql/updates/FROM--TO/ and committed, so a change to them shows in
# review as the SQL a DBA will run; `make` rebuilds them when their parts change.
UPDATES     = $(foreach u,$(notdir $(wildcard sql/updates/*--*)),sql/hublink--$(u).sql)
DATA_built  = sql/hublink--$(EXTVERSION).sql
DATA        = $(sort $(filter-out $(DATA_built),$(wildcard sql/hublink--*.sql)) $(UPDATES))

PG_CPPFLAGS = -I$(CURDIR)/extension
# C11 with PostgreSQL's GNU extensions; every warning is an error.
PG_CFLAGS   = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-declaration-after-statement
SHLIB_LINK  = -lrabbitmq -lcurl

EXTRA_CLEAN = build

# PGXS defines a "check" that refuses to run; ours runs the whole suite (test/run-all), which
# builds and installs through this same Makefile. So PGXS is left out for check and demo.
ifeq ($(filter check demo sim soak soak-10x fuzz,$(MAKECMDGOALS)),)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
include test/e2e/e2e.mk
all: $(UPDATES)
else
.PHONY: check demo sim soak soak-10x mutation fuzz
check:
	test/run-all
demo:
	scripts/demo
# The simulation and the soak (docs/simulation.md): long runs, not part of check.
sim:
	test/sim/run $(SIM_ARGS)
soak:
	test/sim/run --soak --scale 0.5 --policies best $(SIM_ARGS)
# A year at ten times the real rate (80,000 removals; hours: docs/simulation.md "Soak", seventh
# pass), niced, unattended to the end: the drain, the retention check and the figures in
# build/soak-10x. SOAK_STOP_AT=03:15 (any date -d form) stops starting removals then and drains.
soak-10x:
	HUBLINK_SIM_STUCK_SECONDS=600 nice -n 19 test/sim/run --soak --soak-every 30 --scale 10 --policies best-advice \
	    --concurrency 120 --tick-hours 6 --out build/soak-10x $(if $(SOAK_STOP_AT),--stop-at "$(SOAK_STOP_AT)") $(SIM_ARGS)
# Mutants that break the product in a throwaway copy of a test and require its checks to fail
# (test/README.md "Checks seen failing"): about 15 minutes, not part of check.
mutation:
	test/mutation/run $(MUTANTS)
# Fuzzing proper (check runs only a short smoke of each fuzzer): the validator's two targets for
# FUZZ_LONG_SECONDS (default 4 h) with FUZZ_JOBS workers, then the state machine's for as long.
fuzz:
	$(MAKE) --no-print-directory -f test/fuzz/fuzz.mk fuzz-long
	$(MAKE) --no-print-directory -f test/unit/statemachine/statemachine.mk statemachine-fuzz \
		STATEMACHINE_FUZZ_SECONDS=$${FUZZ_LONG_SECONDS:-14400}
endif

sql/hublink--$(EXTVERSION).sql: scripts/build-install-sql $(wildcard sql/parts/*.sql) $(wildcard schemas/*.json)
	scripts/build-install-sql $@

# An update script is built from its parts, and from sql/parts for "-- @function" lines.
sql/hublink--%.sql: scripts/build-install-sql scripts/lib/sql_functions.py sql/updates/% $(wildcard sql/updates/*/*.sql) $(wildcard sql/parts/*.sql) $(wildcard schemas/*.json)
	scripts/build-install-sql $@

# --- quality gates and tests (test/README.md describes each) -------------------------------
# Every C file of ours, found on disk (not through git, so it also works in an export).
FORMAT_FILES = $(shell find extension bgworker test -name '*.[ch]' -not -path '*/node_modules/*' 2>/dev/null | sort)

.PHONY: format format-check
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@test -n "$(FORMAT_FILES)" || { echo "format-check: no C files found"; exit 1; }
	clang-format --dry-run --Werror $(FORMAT_FILES)
	@echo "format-check: $(words $(FORMAT_FILES)) files follow .clang-format"
