#!/usr/bin/env bash
# bundle.sh - copies the CGI executables and every shared library they load (as ldd
# lists them, the C library and the dynamic loader included) into the function folder:
#   vercel-compat/bundle.sh BUILD_BIN_DIR API_DIR executable...
# API_DIR/bin gets the executables (debug info stripped), API_DIR/lib the libraries under
# their sonames. The adapter (api/_cgi.js) runs each executable through the bundled
# loader with --library-path API_DIR/lib, so the bundle needs nothing from the machine it
# runs on: no -dev packages, and not even the same C library.
# Each file is replaced by a rename, and only when it changed, so that a function (or a
# test) running from the folder meanwhile never sees a half-written file.
set -eu
src=${1:?usage: bundle.sh BUILD_BIN_DIR API_DIR executable...}
api=${2:?usage: bundle.sh BUILD_BIN_DIR API_DIR executable...}
shift 2
mkdir -p "$api/bin" "$api/lib"
keep=" "

# put SRC DEST: installs SRC as DEST (mode 755) unless DEST already has the same bytes.
put() {
	if ! cmp -s "$1" "$2"; then
		cp "$1" "$2.new.$$"
		chmod 755 "$2.new.$$"
		mv -f "$2.new.$$" "$2"
	fi
	keep="$keep$2 "
}

for exe in "$@"; do
	[ -x "$src/$exe" ] || { echo "bundle: $src/$exe is missing (run make first)" >&2; exit 1; }
	tmp=$(mktemp)
	strip --strip-debug -o "$tmp" "$src/$exe" 2>/dev/null || cp "$src/$exe" "$tmp"
	put "$tmp" "$api/bin/$exe"
	rm -f "$tmp"
	# "libx.so.1 => /path/libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
	while read -r soname file; do
		case "$keep" in *" $api/lib/$soname "*) continue ;; esac
		put "$(readlink -f "$file")" "$api/lib/$soname"
	done < <(ldd "$src/$exe" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }
		$1 ~ /^\// { n = split($1, p, "/"); print p[n], $1 }')
done
# Whatever an earlier bundle had and this one does not need goes.
for f in "$api"/bin/* "$api"/lib/*; do
	case "$keep" in *" $f "*) ;; *) rm -f "$f" ;; esac
done
du -sh "$api/bin" "$api/lib" | awk '{ printf "bundle: %s %s\n", $2, $1 }'
