# lib-ingest.sh - helpers of the /api/ingest scripts (02xx), sourced after lib.sh.
H='DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE'
J='Content-Type: application/json'
CONV=trk-jobcloud-conversion-destination-events-topic
CLICK=trk-jobcloud-click-destination-events-topic
export INGEST_DATA_DIR=${INGEST_DATA_DIR:-$T/data}
mkdir -p "$INGEST_DATA_DIR"

# ingest JSON [curl args...]: POST /api/ingest (or $INGEST_PATH); sets STATUS, BODY.
ingest() {
	local body=$1
	shift
	http POST "${INGEST_PATH:-/api/ingest}" -H "$J" --data-binary "$body" "$@"
}

# csv NAME: stdin becomes the file NAME of the data directory.
csv() { cat >"$INGEST_DATA_DIR/$1"; }

# counts: "status processed_count error_count skipped_count" of the last answer.
counts() { jq -r '[.status, .processed_count, .error_count, .skipped_count] | map(tostring) | join(" ")' <<<"$BODY" 2>/dev/null; }

# by_reason TOPIC REASON: the values of the records of TOPIC whose reason is REASON.
by_reason() { topic_dump "$1" | jq -c --arg r "$2" 'select(.value.reason == $r)'; }
