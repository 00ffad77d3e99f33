# lib-run.sh - helpers of the tests of `make run` (0600-0699); source after lib.sh.
#   R                  a checkout of the test's own: tools/ copied (tools/run finds its
#                      checkout from where it lies), the rest linked; fresh (no data/, var/)
#   start_run NAME     tools/run on RUN_PORT (a free port if unset) in a process group of its
#                      own, as make run from a shell, in the background; output in $T/NAME.out;
#                      sets RUN_PID and adds it to RUN_PIDS
#   serving            waits at most 60 s for /health through nginx while RUN_PID lives
#   ended PID          waits at most 30 s for PID to exit; its status in RUN_STATUS
#   running            the processes working in the checkout

R=$T/checkout
mkdir -p "$R"
R=$(cd "$R" && pwd -P)
cp -r "$TOP/tools" "$R/"
ln -s "$TOP/build" "$TOP/build-asan" "$TOP/nginx" "$TOP/tracker" "$TOP/docs" "$R/"
export POOL_PROCS=1 FCGIWRAP_PROCS=1
RUN_PIDS=""

start_run() {
	RUN_PORT=${RUN_PORT:-$(free_port)}
	PORT=$RUN_PORT setsid "$R/tools/run" >"$T/$1.out" 2>&1 </dev/null &
	RUN_PID=$!
	RUN_PIDS="$RUN_PIDS $RUN_PID"
}

serving() {
	for _ in $(seq 600); do
		curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$RUN_PORT/health" 2>/dev/null && return 0
		kill -0 "$RUN_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

ended() {
	for _ in $(seq 300); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			RUN_STATUS=$?
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Every process tools/run starts works in the checkout; left out is the `sleep 1` of its
# wait loop, which comes and goes: as `sleep`, or, between fork and exec, as a copy of the
# script (named `run`, but not one of RUN_PIDS).
running() {
	local p comm
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/cwd" 2>/dev/null)" = "$R" ] || continue
		comm=$(cat "$p/comm" 2>/dev/null)
		[ "$comm" = sleep ] && continue
		[ "$comm" = run ] && [[ " $RUN_PIDS " != *" ${p#/proc/} "* ]] && continue
		echo "${p#/proc/}"
	done | sort -n
}
