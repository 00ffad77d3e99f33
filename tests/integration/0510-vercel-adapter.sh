#!/usr/bin/env bash
# The vercel-compat adapter: `make vercel-bundle`, then Node's test runner over
# vercel-compat/test/ (a local http server, the bundled executables, a dev broker, kcat).
# Each node test becomes one ok / not ok line here.
. "$(dirname "$0")/lib.sh"

if ! command -v node >/dev/null; then
	not_ok "node is installed" "the adapter tests need Node.js 18 or later"
	exit 0
fi
if make -C "$TOP" --no-print-directory vercel-bundle >"$T/bundle.log" 2>&1; then
	ok "make vercel-bundle builds the function folder"
else
	not_ok "make vercel-bundle builds the function folder" "$(tail -20 "$T/bundle.log")"
	exit 0
fi
check "the bundle holds the executables and the dynamic loader" \
	test -x "$TOP/vercel-compat/api/bin/collect" -a -e "$TOP/vercel-compat/api/lib/ld-linux-x86-64.so.2"

# Node's TAP: top-level "ok N - name" / "not ok N - name", details indented below.
(cd "$TOP" && timeout 600 node --test --test-reporter=tap vercel-compat/test/) >"$T/node.tap" 2>&1
rc=$?
awk -v pre="vercel-compat: " '
	/^not ok [0-9]+ - / { if (name != "") flush(); sub(/^not ok [0-9]+ - /, ""); name = $0; bad = 1; detail = ""; next }
	/^ok [0-9]+ - / { if (name != "") flush(); sub(/^ok [0-9]+ - /, ""); name = $0; bad = 0; next }
	bad && /^  / { if (length(detail) < 1500) detail = detail $0 "\n"; next }
	function flush() { print (bad ? "N" : "Y") "\t" pre name "\t" detail; name = "" }
	END { if (name != "") flush() }
' RS='\n' "$T/node.tap" | tr '\n' '\036' | sed 's/\x1e\([YN]\t\)/\n\1/g; s/\x1e$//' >"$T/node.results"
n=0
while IFS=$'\t' read -r verdict label detail; do
	[ -n "$verdict" ] || continue
	n=$((n + 1))
	if [ "$verdict" = Y ]; then ok "$label"; else not_ok "$label" "$(tr '\036' '\n' <<<"$detail")"; fi
done <"$T/node.results"
if [ "$n" -eq 0 ]; then
	not_ok "node --test ran the adapter tests" "$(tail -30 "$T/node.tap")"
elif [ $rc -ne 0 ] && ! grep -q '^N' "$T/node.results"; then
	not_ok "node --test exited 0" "exit $rc; $(grep -E '^# (fail|cancelled)' "$T/node.tap")"
fi
