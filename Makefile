# Event-ingestion service: the one Makefile. `make help` lists every target.

CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
PKGS     = jansson rdkafka libcurl openssl zlib
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread -Ishared $(WARN) $(CFLAGS) \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lfcgi -pthread
LDFLAGS ?=

ifeq ($(SANITIZE),1)
B        = build-asan
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS    += -fsanitize=address,undefined
else
B        = build
endif

LIB_SRC   = $(wildcard shared/*.c)
LIB_OBJ   = $(LIB_SRC:%.c=$(B)/%.o)
HANDLERS  = $(patsubst handlers/%.c,$(B)/bin/%,$(wildcard handlers/*.c))
TOOLS     = $(patsubst tools/%.c,$(B)/bin/%,$(wildcard tools/*.c))
DAEMONS   = $(B)/bin/consumer $(B)/bin/forwarder
UNIT      = $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
BINS      = $(HANDLERS) $(DAEMONS) $(TOOLS)

# Links an executable from its prerequisites: the objects, then libsvc.a.
define LINK
@mkdir -p $(dir $@)
$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LDLIBS)
endef

.SECONDARY:
.PHONY: help all deps run test test-asan bench lint style-check format install uninstall \
        soak clean fuzz fuzz-build fuzz-replay fuzz-coverage fuzz-clean vercel-bundle vercel-clean

all: $(BINS) $(UNIT)

help:
	@echo 'make [all]        build every executable and unit test into build/'
	@echo 'make SANITIZE=1   the same with ASan/UBSan into build-asan/'
	@echo 'make run          install what is missing, build, start the whole pipeline'
	@echo 'make test         install, build, lint, run every test, TEST_JOBS (6) at once'
	@echo '                  (TESTS=0104 picks scripts; tests/README.md);'
	@echo '                  ends with "N passed, N failed"'
	@echo 'make test-asan    the same tests, building only the ASan/UBSan executables'
	@echo 'make lint         style-check, then cppcheck over the C sources'
	@echo 'make style-check  clang-format --dry-run over the C sources (.clang-format)'
	@echo 'make format       clang-format -i over the same sources'
	@echo 'make bench        benchmarks against their ceilings (QUICK=1: short run)'
	@echo 'make soak         the stack under mixed traffic and outages for SOAK_MINUTES (30):'
	@echo '                  fails if a process grows or the accounting does not balance'
	@echo 'make deps         the Debian packages the build, run and tests need'
	@echo 'make install      the service on a server (PREFIX, DESTDIR, ...: docs/operations.md)'
	@echo 'make uninstall    removes what make install put there'
	@echo 'make fuzz         libFuzzer over the parsers, with clang (FUZZ_SECONDS, FUZZ_TARGETS)'
	@echo 'make fuzz-build   only build the fuzz targets into build-fuzz/'
	@echo 'make fuzz-replay  replay tests/fuzz/corpus under gcc ASan/UBSan'
	@echo 'make fuzz-coverage  coverage of each fuzzed module by the corpus'
	@echo 'make fuzz-clean   remove build-fuzz/'
	@echo 'make vercel-bundle  the CGI executables and their libraries into vercel-compat/api/'
	@echo 'make vercel-clean remove that bundle'
	@echo 'make clean        remove build/, build-asan/ and test leftovers'
	@echo 'make help         this list'

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libsvc.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^ # a removed source leaves no member behind

$(HANDLERS): $(B)/bin/%: $(B)/handlers/%.o $(B)/libsvc.a
	$(LINK)

$(TOOLS): $(B)/bin/%: $(B)/tools/%.o $(B)/libsvc.a
	$(LINK)

$(B)/bin/consumer: $(patsubst %.c,$(B)/%.o,$(wildcard consumer/*.c))
$(B)/bin/forwarder: $(patsubst %.c,$(B)/%.o,$(wildcard forwarder/*.c))
$(DAEMONS): $(B)/libsvc.a
	$(LINK)

# The transform and dedupe unit tests also link the consumer's modules.
$(B)/tests/test_transform: $(B)/consumer/transform.o
$(B)/tests/test_dedupe: $(B)/consumer/dedupe.o
$(UNIT): $(B)/tests/%: $(B)/tests/unit/%.o $(B)/libsvc.a
	$(LINK)

# The floor of the per-request benchmark links libfcgi alone: the least a libfcgi CGI
# program pays to start (bench/per-request.sh).
$(B)/bin/trivialcgi: LDLIBS = -lfcgi

-include $(LIB_OBJ:.o=.d) $(wildcard $(B)/*/*.d $(B)/tests/unit/*.d)

# Debian packages the build, the run and the tests need; installed only when missing.
deps:
	@tools/install-deps

run: deps
	@$(MAKE) --no-print-directory -j2 all
	@tools/run

# Unit tests, then the integration scripts (TESTS=0004 picks some), all under ASan/UBSan
# as well, and the lint when no script is picked; ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory -j2 all
	@$(MAKE) --no-print-directory -j2 SANITIZE=1 all
	@tests/run $(TESTS)

test-asan: deps
	@$(MAKE) --no-print-directory -j2 SANITIZE=1 all
	@SVC_BUILD=build-asan tests/run $(TESTS)

bench: deps
	@$(MAKE) --no-print-directory -j2 all
	@bench/run $(if $(QUICK),--quick)

# Not part of make test: half an hour by default (docs/operations.md, "Soak").
soak: deps
	@$(MAKE) --no-print-directory -j2 all
	@tools/soak

# The C sources the formatter and the analyser look at.
C_SRC        = $(wildcard shared/*.[ch] handlers/*.c consumer/*.[ch] forwarder/*.c tools/*.c \
                          tests/unit/*.[ch] tests/fuzz/*.[ch])
FORMAT_SRC   = $(C_SRC)

style-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

format:
	clang-format -i $(FORMAT_SRC)

# cppcheck's findings are fixed, or suppressed in place with a comment saying why
# (cppcheck-suppress); the system headers are not ours to check.
CPPCHECK = cppcheck -q --std=c11 --enable=warning,portability,performance --inline-suppr \
           --error-exitcode=1 --suppress=missingIncludeSystem -D_GNU_SOURCE \
           -Ishared -Itests/fuzz -Iconsumer

lint: style-check
	@$(CPPCHECK) $(filter %.c,$(C_SRC))

# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc] [LOCALSTATEDIR=/var]
# [RUNSTATEDIR=/run] [UNITDIR=] [LISTEN=80] [EVENTS_USER=events] [SOCKET_GROUP=events-web]
# [NGINX_USER=www-data] [METRICS_ALLOW='127.0.0.1 ::1']:
# the service on a server, from the plain build (docs/operations.md); make uninstall
# removes it.
INSTALL_VARS = DESTDIR PREFIX SYSCONFDIR LOCALSTATEDIR RUNSTATEDIR UNITDIR LISTEN EVENTS_USER \
               SOCKET_GROUP NGINX_USER METRICS_ALLOW
INSTALL_EXES = collect health home ingest processed_events metrics consumer forwarder
install:
	@$(MAKE) --no-print-directory -j2 SANITIZE= $(addprefix build/bin/,$(INSTALL_EXES))
	@env $(foreach v,$(INSTALL_VARS),$(if $($(v)),$(v)="$($(v))")) tools/install install

uninstall:
	@env $(foreach v,$(INSTALL_VARS),$(if $($(v)),$(v)="$($(v))")) tools/install uninstall

clean:
	rm -rf build build-asan var/test-*

# --- Fuzzing: libFuzzer harnesses over the parsers in shared/ (tests/fuzz/fuzz_<target>.c).
#   make fuzz                       build with clang into build-fuzz/, run each target
#                                   for FUZZ_SECONDS (default 60), one after the other
#   make fuzz FUZZ_TARGETS=csv      pick targets
#   make fuzz FUZZ_DEFS=-D...       extra definitions for the harnesses
# Inputs that grow coverage go to build-fuzz/corpus/<target>/ (not committed); crashes
# to build-fuzz/artifacts/. Minimise a crash and commit it under
# tests/fuzz/corpus/<target>/ so every `make test` replays it (0900-fuzz-corpus.sh).
FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 60
FUZZ_RSS_MB   ?= 2048
FUZZ_DEFS     ?=
FUZZ_TARGETS  ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_B         = build-fuzz
FUZZ_SAN       = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS    = -std=c11 -D_GNU_SOURCE -pthread -Ishared -Itests/fuzz $(WARN) -g -O1 $(FUZZ_DEFS) \
                 $(FUZZ_SAN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LIB_OBJ   = $(LIB_SRC:%.c=$(FUZZ_B)/%.o)

$(FUZZ_B)/shared/%.o: shared/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_B)/libsvc.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_check.h $(FUZZ_B)/libsvc.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_B)/libsvc.a $(LDLIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)

# One target at a time: the machine is shared. A crash stops `make fuzz` with the
# reproducer's path in the output.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_B)/corpus/$$t $(FUZZ_B)/artifacts tests/fuzz/corpus/$$t; \
		echo "# fuzz $$t for $(FUZZ_SECONDS)s"; \
		$(FUZZ_B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=$(FUZZ_RSS_MB) \
			-timeout=5 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_B)/artifacts/$$t- \
			$(FUZZ_B)/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# The same harnesses with a plain main() (tests/fuzz/replay.c), gcc and the ASan build
# of the library: no libFuzzer needed.
$(FUZZ_B)/replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz_check.h build-asan/libsvc.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -fsanitize=address,undefined -fno-sanitize-recover=all \
		-o $@ $< tests/fuzz/replay.c build-asan/libsvc.a $(LDLIBS)

fuzz-replay:
	@$(MAKE) --no-print-directory SANITIZE=1 build-asan/libsvc.a
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_B)/replay/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		$(FUZZ_B)/replay/fuzz_$$t tests/fuzz/corpus/$$t || exit 1; \
	done

-include $(FUZZ_LIB_OBJ:.o=.d)

# Line and branch coverage of each target's module by the corpus so far (the committed
# seeds plus build-fuzz/corpus/<target>/), with clang's source-based coverage. The
# module of target <m>_<part> is shared/<m>_<part>.c, else shared/<m>.c.
FUZZ_COV_FLAGS = -std=c11 -D_GNU_SOURCE -pthread -Ishared -Itests/fuzz -g -O0 \
                 -fprofile-instr-generate -fcoverage-mapping \
                 $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

fuzz-coverage:
	@mkdir -p $(FUZZ_B)/cov
	@for t in $(FUZZ_TARGETS); do \
		$(FUZZ_CC) $(FUZZ_COV_FLAGS) -o $(FUZZ_B)/cov/fuzz_$$t tests/fuzz/fuzz_$$t.c \
			tests/fuzz/replay.c $(LIB_SRC) $(LDLIBS) || exit 1; \
		mkdir -p $(FUZZ_B)/corpus/$$t; \
		LLVM_PROFILE_FILE=$(FUZZ_B)/cov/$$t.profraw $(FUZZ_B)/cov/fuzz_$$t \
			tests/fuzz/corpus/$$t $(FUZZ_B)/corpus/$$t >/dev/null 2>&1 || exit 1; \
		llvm-profdata merge -o $(FUZZ_B)/cov/$$t.profdata $(FUZZ_B)/cov/$$t.profraw; \
		m=$$t; [ -f shared/$$m.c ] || m=$${t%_*}; echo "# $$t (shared/$$m.c)"; \
		llvm-cov report $(FUZZ_B)/cov/fuzz_$$t -instr-profile=$(FUZZ_B)/cov/$$t.profdata \
			shared/$$m.c | tail -n 1; \
	done

fuzz-clean:
	rm -rf $(FUZZ_B)

# --- vercel-compat: copies the CGI executables (plain build, never the sanitizer one)
# and the shared libraries they load into the function folder vercel-compat/api/{bin,lib}
# (git-ignored); see vercel-compat/README.md.
VERCEL_EXES = collect health home ingest processed_events
VERCEL_API  = vercel-compat/api

vercel-bundle:
	@$(MAKE) --no-print-directory -s SANITIZE= $(addprefix build/bin/,$(VERCEL_EXES))
	@vercel-compat/bundle.sh build/bin $(VERCEL_API) $(VERCEL_EXES)

vercel-clean:
	rm -rf $(VERCEL_API)/bin $(VERCEL_API)/lib
