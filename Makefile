# Event-ingestion service: one hand-written Makefile.
# make            build everything          make test    install, build, run all tests
# make run        start the whole pipeline  make bench   benchmarks (bench/README.md)
# make SANITIZE=1 build with ASan/UBSan into build-asan/
# make install    the service on a server   make uninstall (README.md, "Install on a server")

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
CONSUMER  = $(if $(wildcard consumer/*.c),$(B)/bin/consumer)
FORWARDER = $(if $(wildcard forwarder/*.c),$(B)/bin/forwarder)
TOOLS     = $(patsubst tools/%.c,$(B)/bin/%,$(wildcard tools/*.c))
UNIT      = $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
BINS      = $(HANDLERS) $(CONSUMER) $(FORWARDER) $(TOOLS)

.SECONDARY:
.PHONY: all deps run test test-unit test-integration test-asan bench clean style-check \
        install uninstall
all: $(BINS) $(UNIT)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libsvc.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^ # a removed source leaves no member behind

$(B)/bin/%: $(B)/handlers/%.o $(B)/libsvc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/consumer: $(patsubst %.c,$(B)/%.o,$(wildcard consumer/*.c)) $(B)/libsvc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/forwarder: $(patsubst %.c,$(B)/%.o,$(wildcard forwarder/*.c)) $(B)/libsvc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/%: $(B)/tools/%.o $(B)/libsvc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(B)/libsvc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(LIB_OBJ:.o=.d) $(wildcard $(B)/*/*.d $(B)/tests/unit/*.d)

# Debian packages the build, the run and the tests need; installed only when missing.
deps:
	@tools/install-deps

run: deps
	@$(MAKE) --no-print-directory -j2 all
	@tools/run

# Unit tests, then the integration scripts (TESTS=0004 picks one), all under ASan/UBSan
# as well; ends with the line "N passed, N failed".
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

style-check:
	clang-format --dry-run --Werror shared/*.[ch] handlers/*.c consumer/*.c forwarder/*.c tools/*.c tests/unit/*.[ch]

# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc] [LOCALSTATEDIR=/var]
# [RUNSTATEDIR=/run] [UNITDIR=] [LISTEN=80] [EVENTS_USER=events] [METRICS_ALLOW='127.0.0.1 ::1']:
# the service on a server, from the plain build (README.md, "Install on a server");
# make uninstall removes it.
INSTALL_VARS = DESTDIR PREFIX SYSCONFDIR LOCALSTATEDIR RUNSTATEDIR UNITDIR LISTEN EVENTS_USER \
               METRICS_ALLOW
install:
	@$(MAKE) --no-print-directory -j2 SANITIZE= $(addprefix build/bin/,collect health home ingest processed_events metrics consumer forwarder)
	@env $(foreach v,$(INSTALL_VARS),$(if $($(v)),$(v)="$($(v))")) tools/install install

uninstall:
	@env $(foreach v,$(INSTALL_VARS),$(if $($(v)),$(v)="$($(v))")) tools/install uninstall

clean:
	rm -rf build build-asan var/test-*

-include $(wildcard */*.mk)
