#!/usr/bin/env bash
# bundle.sh - copies the CGI executables and every shared library they load (as ldd
# lists them, the C library and the dynamic loader included) into the function folder:
#   vercel-compat/bundle.sh BUILD_BIN_DIR API_DIR executable...
# API_DIR/bin gets the executables (debug info stripped), API_DIR/lib the libraries under
# their sonames. The adapter (api/_cgi.js) runs each executable through the bundled
# loader with --library-path API_DIR/lib, so the bundle needs nothing from the machine it
# runs on: no -dev packages, and not even the same C library.
set -eu
src=${1:?usage: bundle.sh BUILD_BIN_DIR API_DIR executable...}
api=${2:?usage: bundle.sh BUILD_BIN_DIR API_DIR executable...}
shift 2
rm -rf "$api/bin" "$api/lib"
mkdir -p "$api/bin" "$api/lib"
for exe in "$@"; do
	[ -x "$src/$exe" ] || { echo "bundle: $src/$exe is missing (run make first)" >&2; exit 1; }
	if command -v strip >/dev/null; then
		strip --strip-debug -o "$api/bin/$exe" "$src/$exe"
	else
		cp "$src/$exe" "$api/bin/$exe"
	fi
	chmod 755 "$api/bin/$exe"
	# "libx.so.1 => /path/libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
	ldd "$src/$exe" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 } $1 ~ /^\// { n = split($1, p, "/"); print p[n], $1 }' |
		while read -r soname file; do
			[ -e "$api/lib/$soname" ] || cp -L "$file" "$api/lib/$soname"
		done
done
chmod 755 "$api"/lib/*
du -sh "$api/bin" "$api/lib" | awk '{ printf "bundle: %s %s\n", $2, $1 }'
