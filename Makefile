# formd - GNU Make build.
#
#   make          build/formd
#   make run      install what is missing, build, serve on the embedded default
#   make fuzz     the fuzzing campaign: each libFuzzer target for FUZZ_SECONDS (60)
#   make test     install what is missing, then unit + end-to-end + fuzz tests,
#                 once on the normal build and once under ASan + UBSan; the
#                 database tests also on PostgreSQL (a private cluster, normal build)
#   make bench    bench/*.sh: formd side by side with its peers (nginx, BullMQ, ajv, sqlite3,
#                 a bare llama.cpp loop)

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libpq libsodium libpcre2-8 libcurl xlsxwriter tesseract lept
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
# DuckDB is not in Debian: scripts/bootstrap puts it in a cache keyed by version.
DUCKDB_VER := 1.4.4-r.4
DUCKDB_DIR ?= $(or $(FORMD_CACHE),$(HOME)/.cache/formd)/duckdb-$(DUCKDB_VER)
# llama.cpp neither: bootstrap builds its static CPU libraries into the same cache.
# They are linked each before the ones it calls (llama, ggml, ggml-cpu, ggml-base),
# with libstdc++ since they are C++.
LLAMA_VER := v0.5.0
LLAMA_DIR ?= $(or $(FORMD_CACHE),$(HOME)/.cache/formd)/llama-$(LLAMA_VER)
CPPFLAGS := -D_GNU_SOURCE -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I$(DUCKDB_DIR)/include \
            -isystem $(LLAMA_DIR)/include
# Jansson is linked from Debian's static archive: the validator calls its
# accessors a few hundred times per submission, and direct calls instead of
# calls through the PLT made validation about 8% faster (bench/validate.sh).
LDLIBS  := $(patsubst -ljansson,-l:libjansson.a,$(shell pkg-config --libs $(PKGS) 2>/dev/null)) \
           -L$(DUCKDB_DIR)/lib -lduckdb \
           -Wl,-rpath,$(DUCKDB_DIR)/lib \
           $(LLAMA_DIR)/lib/libllama.a $(LLAMA_DIR)/lib/libggml.a $(LLAMA_DIR)/lib/libggml-cpu.a \
           $(LLAMA_DIR)/lib/libggml-base.a -lstdc++ -lpthread -lm
SANFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS      := $(shell find src -name '*.c' | sort)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
FUZZ_SRCS := $(shell find tests/fuzz -name 'fuzz_*.c' 2>/dev/null | sort)
HDRS      := $(shell find src tests -name '*.h')

# One tree per flavour: build/ (release) and build/asan/.
OBJ     = $(patsubst src/%.c,$(1)/obj/%.o,$(LIB_SRCS))
UNITS   = $(patsubst tests/unit/%.c,$(1)/unit/%,$(UNIT_SRCS))

.PHONY: all run test test-unit test-unit-pg test-asan-pg test-e2e test-fuzz fuzz test-asan check bench clean bootstrap
all: build/formd

bootstrap:
	@scripts/bootstrap

# -MMD: each object depends on exactly the headers it includes.
build/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -MMD -MP -c $< -o $@

build/asan/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -c $< -o $@

-include $(shell find build -name '*.d' 2>/dev/null)

# docs/openapi.json is served by /openapi.json: linked in as a blob.
%/obj/openapi_blob.o: docs/openapi.json
	@mkdir -p $(dir $@)
	cd docs && ld -r -b binary -z noexecstack -o $(abspath $@) openapi.json

build/libformd.a: $(call OBJ,build) build/obj/openapi_blob.o
	@rm -f $@
	ar rcs $@ $^

build/asan/libformd.a: $(call OBJ,build/asan) build/asan/obj/openapi_blob.o
	@rm -f $@
	ar rcs $@ $^

build/formd: build/obj/main.o build/libformd.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

build/asan/formd: build/asan/obj/main.o build/asan/libformd.a
	$(CC) $(SANFLAGS) $^ $(LDLIBS) -o $@

build/unit/%: tests/unit/%.c build/libformd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Itests $< build/libformd.a $(LDLIBS) -lcmocka -o $@

build/asan/unit/%: tests/unit/%.c build/asan/libformd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(SANFLAGS) $(CPPFLAGS) -Itests $< build/asan/libformd.a $(LDLIBS) -lcmocka -o $@

# libFuzzer targets are built with clang and linked against the whole library
# compiled once more with coverage instrumentation and ASan + UBSan
# (build/fuzz-obj/), so a target can reach any parser of outside input. Some
# targets #include the file whose static parser they test (src/queue/cron.c,
# src/main.c's route table, ...): the target then defines that file's symbols
# itself and the archive's copy is never pulled in.
FUZZFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
build/fuzz-obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZFLAGS) -fsanitize=fuzzer-no-link $(CPPFLAGS) -MMD -MP -c $< -o $@

# llama.c is taken from the normal build: clang 14 knows no "f16c" for
# __builtin_cpu_supports, and no fuzz target reaches the model.
FUZZ_OBJS := $(patsubst src/%.c,build/fuzz-obj/%.o,$(filter-out src/ai/llama.c,$(LIB_SRCS))) \
             build/obj/ai/llama.o build/fuzz-lib/obj/openapi_blob.o
build/fuzz-obj/libformd.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/%: tests/fuzz/%.c build/fuzz-obj/libformd.a $(SRCS) $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZFLAGS) -fsanitize=fuzzer $(CPPFLAGS) -Itests $< build/fuzz-obj/libformd.a $(LDLIBS) -lcmocka -o $@

# The fault-injection shim the fault tests preload into formd (tests/fault).
build/failfs.so: tests/fault/failfs.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -Wall -Wextra -Werror -shared -fPIC $< -ldl -o $@

run: bootstrap build/formd
	@scripts/run

test: bootstrap
	@scripts/test

# The pieces scripts/test calls; each works on its own too.
test-unit: $(call UNITS,build)
	@scripts/run-units build/unit $^

# The unit tests that take a database, on PostgreSQL: FORMD_TEST_PG_URL names
# a server (scripts/pg-cluster start prints one; scripts/test starts it).
PG_UNIT_SRCS := tests/unit/db/test_db.c tests/unit/db/test_postgres.c \
                tests/unit/queue/test_queue.c tests/unit/store/test_ai_cache.c \
                tests/unit/store/test_audit.c \
                tests/unit/analytics/test_etl_order.c tests/unit/store/test_leases.c
test-unit-pg: $(patsubst tests/unit/%.c,build/unit/%,$(PG_UNIT_SRCS))
	@test -n "$$FORMD_TEST_PG_URL" || { echo "test-unit-pg: set FORMD_TEST_PG_URL" >&2; exit 1; }
	@scripts/run-units build/unit $^

# The same, built with ASan + UBSan (the end-to-end suite on PostgreSQL runs
# on the normal build only: time).
test-asan-pg: $(patsubst tests/unit/%.c,build/asan/unit/%,$(PG_UNIT_SRCS))
	@test -n "$$FORMD_TEST_PG_URL" || { echo "test-asan-pg: set FORMD_TEST_PG_URL" >&2; exit 1; }
	@FORMD_TEST_SMALL=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  scripts/run-units build/asan/unit $^

# With FORMD_TEST_PG_URL set, every server runs on PostgreSQL (tests/e2e/conftest.py).
test-e2e: build/formd build/failfs.so
	@FORMD_BIN=$(CURDIR)/build/formd FORMD_FAILFS=$(CURDIR)/build/failfs.so \
	  /usr/bin/python3 -m pytest -q tests/e2e

test-asan: build/asan/formd build/failfs.so $(call UNITS,build/asan)
	@# FORMD_TEST_SMALL: the million-row analytics cases run once, in the normal build
	@FORMD_TEST_SMALL=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  scripts/run-units build/asan/unit $(call UNITS,build/asan)
	@FORMD_BIN=$(CURDIR)/build/asan/formd FORMD_ASAN=1 FORMD_FAILFS=$(CURDIR)/build/failfs.so \
	  /usr/bin/python3 -m pytest -q tests/e2e

test-fuzz: $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
	@scripts/run-fuzz $^

# The fuzzing campaign (tests/fuzz/README.md): every target, or those named in
# FUZZ_TARGETS, for FUZZ_SECONDS each (60 by default), one after the other;
# new inputs that add coverage are merged into tests/fuzz/corpus/.
FUZZ_TARGETS ?= $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRCS))
fuzz: $(addprefix build/fuzz/,$(FUZZ_TARGETS))
	@FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) scripts/run-fuzz --campaign $^

bench: build/formd
	@bench/http.sh
	@bench/queue.sh
	@bench/validate.sh
	@bench/analytics.sh
	@bench/ai.sh
	@bench/scale.sh

clean:
	rm -rf build
