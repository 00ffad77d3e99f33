#!/usr/bin/env bash
# Replays the committed fuzz corpus (tests/fuzz/corpus/<target>/: seeds and minimised
# crash reproducers) through each fuzz harness, built with gcc, ASan/UBSan and a plain
# main() against build-asan/libsvc.a: a cheap regression run, no libFuzzer needed.
. "$(dirname "$0")/lib.sh"

lib="$TOP/build-asan/libsvc.a"
if [ ! -f "$lib" ]; then
	not_ok "fuzz corpus replay" "missing $lib (make SANITIZE=1)"
	exit 0
fi
pkgs="jansson rdkafka libcurl openssl zlib"
export TMPDIR=$T
for src in "$TOP"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	bin="$T/fuzz_$t"
	# shellcheck disable=SC2046
	if ! out=$(${CC:-gcc} -std=c11 -D_GNU_SOURCE -pthread -g -O1 -I"$TOP/shared" -I"$TOP/tests/fuzz" \
		-Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
		$(pkg-config --cflags $pkgs) -o "$bin" "$src" "$TOP/tests/fuzz/replay.c" "$lib" \
		$(pkg-config --libs $pkgs) -lfcgi -pthread 2>&1); then
		not_ok "fuzz $t: harness builds" "$out"
		continue
	fi
	dir="$TOP/tests/fuzz/corpus/$t"
	n=$(find "$dir" -type f 2>/dev/null | wc -l)
	if [ "$n" -eq 0 ]; then
		not_ok "fuzz $t: corpus replays" "no inputs in tests/fuzz/corpus/$t"
		continue
	fi
	if out=$(timeout 300 "$bin" "$dir" 2>&1) && grep -q "^replayed $n inputs" <<<"$out"; then
		ok "fuzz $t: $n corpus inputs replay cleanly"
	else
		not_ok "fuzz $t: corpus replays" "$(tail -n 30 <<<"$out")"
	fi
done
