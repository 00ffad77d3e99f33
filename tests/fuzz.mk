# Makefile fragments under tests/ (the top Makefile includes only */*.mk).
include tests/fuzz/fuzz.mk
