#!/usr/bin/env bash
# bench/validate.sh - formd's JSON Schema validator side by side with ajv, in
# the same run, on the same documents.
#
#   bench/validate.sh
#   BENCH_SECONDS=5 bench/validate.sh
#
# Builds build/libformd.a, compiles bench/validate_bench.c against it into a
# temporary directory (the driver is not part of the main build), installs npm
# ajv@8 and ajv-formats@3 once into $HOME/.cache/formd/npm-ajv (outside the
# checkout; FORMD_NPM_AJV overrides), then validates each case of
# bench/validate/ with both:
#   form30.valid    a 30-field form submission that is valid
#   form30.invalid  the same form with nine mistakes
#   refs.valid      a form definition against a schema heavy in $ref and oneOf
# Each side compiles its schema once and validates the parsed instance in a
# loop for BENCH_SECONDS (default 2): formd with schema_validate, ajv with its
# 2020-12 build (Ajv2020, strict off, ajv-formats). Modes: first-error
# (formd without an error list, ajv's default), all-errors (formd collecting
# every error into its struct schema_errors, ajv with allErrors: true) and,
# for information, json-errors (formd's list converted to the Jansson array
# the API's 422 body is written from, against ajv's all-errors again).
#
# The goal (formd >= 1.5x ajv) is judged on all-errors: formd's validator
# reports every error (its API and CLI always ask for them all), so the
# like-for-like peer is ajv with allErrors: true. first-error is printed for
# information, as ajv's default; on the invalid document ajv is faster there
# (it checks "required" first, ten property lookups that V8's inline caches
# make nearly free, and stops at the missing one) while formd walks the
# members in document order and stops at the third, a bad email.
#
# Also printed: the heap each compiled schema holds (formd's "memory per
# compiled schema"; PCRE2 JIT code pages are not counted).
#
# The table goes to stdout, progress to stderr. The goal (formd >= 1.5x ajv)
# is informational: a MISS does not change the exit status, which is non-zero
# only when something failed to run or the two disagree on a verdict.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${BENCH_SECONDS:-2}
npm_dir=${FORMD_NPM_AJV:-$HOME/.cache/formd/npm-ajv}
pkgs=(libmicrohttpd jansson sqlite3 libsodium libpcre2-8)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "building build/libformd.a and the bench driver" >&2
make -s build/libformd.a >&2
read -ra cflags <<<"$(pkg-config --cflags "${pkgs[@]}")"
# linked as build/formd is: Jansson from its static archive (see the Makefile)
read -ra libs <<<"$(pkg-config --libs "${pkgs[@]}" | sed 's/-ljansson/-l:libjansson.a/')"
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc "${cflags[@]}" bench/validate_bench.c build/libformd.a \
   "${libs[@]}" -lpthread -lm -o "$tmp/validate_bench"

if [ ! -d "$npm_dir/node_modules/ajv" ] || [ ! -d "$npm_dir/node_modules/ajv-formats" ]; then
    echo "installing ajv@8 and ajv-formats@3 into $npm_dir" >&2
    npm install --prefix "$npm_dir" --no-audit --no-fund --silent ajv@8 ajv-formats@3 >&2
fi
ajv_version=$(node -p "require('$npm_dir/node_modules/ajv/package.json').version")

# "<verdict> first-error <n>/s all-errors <n>/s" -> field $2
field() {
    awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) { sub("/s", "", $(i + 1)); print $(i + 1) } }' \
        <<<"$1"
}

printf '%-26s %-12s %10s %12s %8s %s\n' case mode formd/s "ajv $ajv_version/s" ratio goal
status=0
heaps=""
for c in form30.valid form30.invalid refs.valid; do
    schema=bench/validate/${c%%.*}.schema.json
    inst=bench/validate/$c.json
    echo "running $c" >&2
    f=$("$tmp/validate_bench" "$schema" "$inst" "$secs")
    a=$(NODE_PATH="$npm_dir/node_modules" node bench/validate_ajv.js "$schema" "$inst" "$secs")
    if [ "${f%% *}" != "${a%% *}" ]; then
        echo "$c: formd says ${f%% *}, ajv says ${a%% *}" >&2
        status=1
    fi
    for mode in first-error all-errors json-errors; do
        fr=$(field "$f" "$mode")
        ar=$(field "$a" "${mode/json-errors/all-errors}")
        ratio=$(awk -v x="$fr" -v y="$ar" 'BEGIN { printf "%.2f", x / y }')
        goal=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.5 ? "ok" : "MISS") }')
        [ "$mode" != all-errors ] && goal="$goal (info)"
        printf '%-26s %-12s %10s %12s %7sx %s\n' "$c (${f%% *})" "$mode" "$fr" "$ar" \
            "$ratio" "$goal"
    done
    heaps+="${c%%.*} $(awk '{ print $NF }' <<<"$f") bytes; "
done
echo "formd compiled schema heap: ${heaps% }"
exit "$status"
