# fuzz.mk - libFuzzer harnesses over the parsers in shared/ (tests/fuzz/fuzz_<target>.c).
#   make fuzz                       build with clang into build-fuzz/, run each target
#                                   for FUZZ_SECONDS (default 60), one after the other
#   make fuzz FUZZ_TARGETS=csv      pick targets
#   make fuzz-replay                replay the committed corpus under gcc ASan/UBSan
#   make fuzz-coverage              coverage of each target's module by the corpus
#   make -B fuzz FUZZ_TARGETS=config FUZZ_DEFS=-DFUZZ_CONFIG_STRICT
#                                   also check the known EVENTS_CONFIG issues
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

.PHONY: fuzz fuzz-build fuzz-replay

$(FUZZ_B)/shared/%.o: shared/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_B)/libsvc.a: $(FUZZ_LIB_OBJ)
	ar rcs $@ $^

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
# seeds plus build-fuzz/corpus/<target>/), with clang's source-based coverage.
FUZZ_COV_FLAGS = -std=c11 -D_GNU_SOURCE -pthread -Ishared -Itests/fuzz -g -O0 \
                 -fprofile-instr-generate -fcoverage-mapping \
                 $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

.PHONY: fuzz-coverage
fuzz-coverage:
	@mkdir -p $(FUZZ_B)/cov
	@for t in $(FUZZ_TARGETS); do \
		$(FUZZ_CC) $(FUZZ_COV_FLAGS) -o $(FUZZ_B)/cov/fuzz_$$t tests/fuzz/fuzz_$$t.c \
			tests/fuzz/replay.c $(LIB_SRC) $(LDLIBS) || exit 1; \
		mkdir -p $(FUZZ_B)/corpus/$$t; \
		LLVM_PROFILE_FILE=$(FUZZ_B)/cov/$$t.profraw $(FUZZ_B)/cov/fuzz_$$t \
			tests/fuzz/corpus/$$t $(FUZZ_B)/corpus/$$t >/dev/null 2>&1 || exit 1; \
		llvm-profdata merge -o $(FUZZ_B)/cov/$$t.profdata $(FUZZ_B)/cov/$$t.profraw; \
		m=$${t%_url}; echo "# $$t (shared/$$m.c)"; \
		llvm-cov report $(FUZZ_B)/cov/fuzz_$$t -instr-profile=$(FUZZ_B)/cov/$$t.profdata \
			shared/$$m.c | tail -n 1; \
	done

.PHONY: fuzz-clean
fuzz-clean:
	rm -rf $(FUZZ_B)
