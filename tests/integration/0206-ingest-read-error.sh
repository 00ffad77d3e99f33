#!/usr/bin/env bash
# A CSV that fails to read after some events went out: the answer is a 500 that says how
# many events Kafka acknowledged (acknowledged_count) of those sent (queued_count), and
# Kafka holds exactly that many.
# The read error is a real EIO from the kernel: the data directory is /proc/<pid> of a
# helper that keeps a CSV in the page at address 0, so reading the file "mem" returns
# that page, then fails at the next, unmapped one. Mapping page 0 needs CAP_SYS_RAWIO.
. "$(dirname "$0")/lib.sh"

cat >"$T/page0.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
	long size = sysconf(_SC_PAGESIZE);
	char *page = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	FILE *fp = argc > 1 ? fopen(argv[1], "r") : NULL;
	if (page == MAP_FAILED || !fp) {
		perror("page0");
		return 1;
	}
	memset(page, '\n', size); /* blank lines after the CSV are skipped */
	if (fread(page, 1, size, fp) >= (size_t)size)
		return 1;
	puts("ready");
	fflush(stdout);
	pause();
	return 0;
}
EOF
${CC:-cc} -o "$T/page0" "$T/page0.c" || { not_ok "the helper builds"; exit 1; }
{
	echo 'DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE'
	for i in 1 2 3 4 5; do echo "2025-10-22,E$i,10.0.0.$i,ua,fp-$i,https://e.com,COOKIE"; done
} >"$T/page.csv"
"$T/page0" "$T/page.csv" >"$T/page0.out" 2>&1 &
helper=$!
trap 'kill $helper 2>/dev/null; _cleanup' EXIT
for _ in $(seq 100); do
	[ -s "$T/page0.out" ] && break
	sleep 0.05
done
if ! grep -q ready "$T/page0.out"; then
	echo "ok 1 # SKIP page 0 cannot be mapped here: $(cat "$T/page0.out")"
	exit 0
fi

export INGEST_DATA_DIR=/proc/$helper
. "$(dirname "$0")/lib-ingest.sh"
start_broker -p 1
start_stack

n=0
for p in /api/ingest /cgi/api/ingest; do
	INGEST_PATH=$p ingest '{"file_path":"mem","query_param_a":3}'
	is "$p: a read error after 5 events -> 500" "$STATUS $(jq -r .status <<<"$BODY")" "500 error"
	is "$p: it says Kafka acknowledged 5 of 5" \
		"$(jq -c '[.acknowledged_count, .queued_count]' <<<"$BODY")" "[5,5]"
	check "$p: and to ingest again" jq -e '.message | test("could not be read") and test("ingest it again")' <<<"$BODY"
	n=$((n + 5))
	is "$p: Kafka holds what was acknowledged" "$(topic_count "$CONV")" "$n"
done
check "the log says why" grep -q 'Input/output error' "$T/run/ingest.log"
