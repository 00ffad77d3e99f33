# google-stub.sh - helpers for the Sheets integration tests; source after lib.sh.
#   make_key_pair NAME        a fresh RSA key pair: $T/NAME.pem and $T/NAME.pub
#   make_sa_json NAME [EMAIL] the service-account JSON $T/NAME.json of that key, with
#                             token_uri = the stub (call start_google_stub first)
#   start_google_stub SHEETS_JSON PUBKEY EMAIL [stub options]
#                             starts tests/stubs/google-stub.js; exports STUB_URL and
#                             points GOOGLE_SHEETS_API_BASE / GOOGLE_DOCS_BASE at it
#   stub_stat NAME            one counter of the stub (requests, token, meta, values, export)
#   stub_control QUERY        POST /_control?QUERY (revoke=1, ttl=N)
_STUB_PID=""
SA_EMAIL=ingest-test@svc-test.iam.gserviceaccount.com

make_key_pair() {
	openssl genrsa -out "$T/$1.pem" 2048 2>/dev/null &&
		openssl rsa -in "$T/$1.pem" -pubout -out "$T/$1.pub" 2>/dev/null
}

make_sa_json() {
	local name=$1 email=${2:-$SA_EMAIL}
	jq -n --rawfile pk "$T/$name.pem" --arg email "$email" --arg uri "$STUB_URL/token" \
			'{type: "service_account", project_id: "svc-test", private_key_id: "test",
			  private_key: $pk, client_email: $email, token_uri: $uri}' >"$T/$name.json"
}

start_google_stub() {
	local sheets=$1 pub=$2 email=$3
	shift 3
	rm -f "$T/stub.port"
	node "$TOP/tests/stubs/google-stub.js" --sheets "$sheets" --pubkey "$pub" \
		--email "$email" --port-file "$T/stub.port" "$@" >"$T/stub.log" 2>&1 &
	_STUB_PID=$!
	for _ in $(seq 100); do
		[ -s "$T/stub.port" ] && break
		sleep 0.05
	done
	[ -s "$T/stub.port" ] || { echo "# google stub did not start"; cat "$T/stub.log"; return 1; }
	export STUB_URL="http://127.0.0.1:$(cat "$T/stub.port")"
	export GOOGLE_SHEETS_API_BASE=$STUB_URL GOOGLE_DOCS_BASE=$STUB_URL
}

stop_google_stub() {
	[ -n "$_STUB_PID" ] && kill "$_STUB_PID" 2>/dev/null && wait "$_STUB_PID" 2>/dev/null
	_STUB_PID=""
}

stub_stat() {
	curl -sS -m 5 "$STUB_URL/_stats" | jq -r ".$1"
}

stub_control() {
	curl -sS -m 5 -X POST "$STUB_URL/_control?$1" >/dev/null
}

# The stub is stopped with the rest at exit (lib.sh's trap runs _cleanup).
trap 'stop_google_stub; _cleanup' EXIT
