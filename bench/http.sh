#!/usr/bin/env bash
# bench/http.sh - formd side by side with nginx, in the same run, with wrk.
#
#   bench/http.sh                     (or: make bench)
#   BENCH_SECONDS=5 bench/http.sh
#
# Builds build/formd, starts it on a fresh temporary data directory, creates a
# project and a published form "bench" with the admin key, saves the exact
# body of GET /v1/public/forms/bench to a file and serves that file with a
# private nginx (own config, prefix, pid and logs in a temporary directory; the
# system nginx and its config are neither used nor touched). Then wrk measures:
#   a) GET  formd /v1/public/forms/bench
#   b) GET  nginx /v1/public/forms/bench (the same bytes, application/json)
#   c) POST formd /v1/public/forms/bench/submissions (valid JSON, every answer
#      must be 201; a generated wrk Lua script counts the others)
# and checks that the form's submission_count matches what wrk saw stored.
#
# Environment:
#   BENCH_SECONDS      seconds per wrk run (default 10)
#   BENCH_CONNECTIONS  wrk connections (default 64)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_VERBOSE=1    also print the raw wrk output (on stderr)
#   BENCH_FORMD_ARGS   extra arguments for formd serve, e.g. "--threads 2"
#
# The table goes to stdout, progress to stderr. The goals are informational:
# a MISS does not change the exit status. The exit status is non-zero when
# something failed to run (build, start, wrk, a server crash), or when the
# POST run broke correctness (a non-201 answer, a socket error, or a stored
# submission count lower than wrk's count of 201s: a lost submission).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
verbose=${BENCH_VERBOSE:-0}
read -ra formd_extra <<<"${BENCH_FORMD_ARGS:-}"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

for v in seconds connections threads; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
((connections >= threads)) || die "BENCH_CONNECTIONS ($connections) must be >= BENCH_THREADS ($threads)"
for tool in make curl wrk nginx python3 awk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (make bootstrap installs it)"
done

# ---------------------------------------------------------------- cleanup
formd_pid=""
nginx_pid=""
work=""    # formd data, logs, wrk output and Lua (0700)
ngx=""     # nginx prefix (0755: workers may run as nobody when we are root)

# shellcheck disable=SC2317  # called from the EXIT trap
stop_pid() { # pid name
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$2 (pid $pid) did not stop on SIGTERM; sending SIGKILL"
    [[ -n ${work:-} && -f $work/formd.log ]] && tail -n 5 "$work/formd.log" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$nginx_pid" nginx
  stop_pid "$formd_pid" formd
  [[ -n $ngx && -d $ngx ]] && rm -rf -- "$ngx"
  [[ -n $work && -d $work ]] && rm -rf -- "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
# A port nothing listens on, below the usual ephemeral range so wrk's own
# client sockets do not collide with it. Start-up retries on another port if
# the bind still fails.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((15000 + RANDOM % 15000))
    if port_free "$p"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# json_get FILE KEY: one top-level member of a JSON object, printed as text.
json_get() {
  python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1" "$2"
}

# api METHOD PATH [BODY]: admin call on formd; the body lands in $work/resp,
# the status is printed.
api() {
  local args=(-sS -o "$work/resp" -w '%{http_code}' -X "$1"
    -H "Authorization: Bearer $admin_key" "$formd_url$2")
  if [[ $# -ge 3 ]]; then
    args+=(-H 'Content-Type: application/json' --data-binary "$3")
  fi
  curl "${args[@]}"
}

# must STATUS METHOD PATH [BODY]: api, and die unless the status matches.
must() {
  local want=$1 got
  shift
  got=$(api "$@") || die "curl $1 $2 failed"
  [[ $got == "$want" ]] || die "$1 $2: expected $want, got $got: $(head -c 500 "$work/resp")"
}

formd_alive() {
  kill -0 "$formd_pid" 2>/dev/null && return 0
  local rc=0
  wait "$formd_pid" || rc=$?
  formd_pid=""
  log "formd died (exit status $rc); last lines of its log:"
  tail -n 30 "$work/formd.log" >&2 || true
  return 1
}

nginx_alive() {
  kill -0 "$nginx_pid" 2>/dev/null && return 0
  nginx_pid=""
  log "nginx died; its error log:"
  tail -n 30 "$ngx/error.log" >&2 || true
  return 1
}

# to_ms VALUE: wrk times (123.45us, 1.20ms, 2.00s, 1.00m, 1.00h) in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000
    else if (u == "ms") n = n
    else if (u == "s") n *= 1000
    else if (u == "m") n *= 60000
    else if (u == "h") n *= 3600000
    else exit 1
    printf "%.2f", n
  }'
}

# wrk_field FILE NAME: one number out of a saved wrk --latency output.
wrk_field() {
  local f=$1 v=""
  case $2 in
    rps) v=$(awk '$1 == "Requests/sec:" { print $2 }' "$f") ;;
    p50) v=$(awk '$1 == "50%" { print $2 }' "$f") ;;
    p99) v=$(awk '$1 == "99%" { print $2 }' "$f") ;;
    completed) v=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$f") ;;
    non2xx) v=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f") ;;
    sockerr) v=$(awk '/Socket errors:/ { s = 0; for (i = 3; i <= NF; i += 2) s += $(i + 1) + 0; print s }' "$f") ;;
    lua_created) v=$(awk '$1 == "lua:" && $2 == "created" { print $3 }' "$f") ;;
    lua_non201) v=$(awk '$1 == "lua:" && $2 == "non201" { print $3 }' "$f") ;;
  esac
  case $2 in
    non2xx | sockerr) v=${v:-0} ;;
  esac
  [[ -n $v ]] || die "could not read $2 from wrk output $f: $(cat "$f")"
  case $2 in
    p50 | p99) to_ms "$v" || die "unknown wrk time unit in '$v'" ;;
    *) echo "$v" ;;
  esac
}

# run_wrk NAME URL [LUA]: a wrk run, output saved to $work/NAME.out.
run_wrk() {
  local name=$1 url=$2 out="$work/$1.out"
  local args=(--threads "$threads" --connections "$connections" --duration "${seconds}s" --latency)
  [[ $# -ge 3 ]] && args+=(--script "$3")
  log "wrk $name: ${seconds}s, $threads threads, $connections connections, $url"
  wrk "${args[@]}" "$url" >"$out" 2>&1 || die "wrk $name failed: $(cat "$out")"
  if [[ $verbose == 1 ]]; then
    sed "s/^/  [$name] /" "$out" >&2
  fi
}

# ---------------------------------------------------------------- 1. build
log "building build/formd"
make -C "$root" build/formd >&2 || die "make build/formd failed"
formd_bin="$root/build/formd"
[[ -x $formd_bin ]] || die "$formd_bin is missing after make"

work=$(mktemp -d "${TMPDIR:-/tmp}/formd-bench.XXXXXX")
ngx=$(mktemp -d "${TMPDIR:-/tmp}/formd-bench-nginx.XXXXXX")
chmod 0755 "$ngx"

# ---------------------------------------------------------------- 2. formd
start_formd() {
  local attempt i
  for ((attempt = 1; attempt <= 3; attempt++)); do
    formd_port=$(pick_port) || die "no free port found"
    formd_url="http://127.0.0.1:$formd_port"
    # Rate limits off: wrk is one client address sending as fast as it can;
    # the run measures the server, not its limiter (docs/security.md).
    "$formd_bin" serve --listen "127.0.0.1:$formd_port" --data-dir "$work/data" \
      --log-level warn --rate-public 0 --rate-management 0 "${formd_extra[@]}" \
      >>"$work/formd.log" 2>&1 &
    formd_pid=$!
    for ((i = 0; i < 300; i++)); do
      if ! kill -0 "$formd_pid" 2>/dev/null; then
        wait "$formd_pid" 2>/dev/null || true
        formd_pid=""
        break
      fi
      if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$formd_url/healthz") == 200 ]]; then
        return 0
      fi
      sleep 0.1
    done
    if [[ -n $formd_pid ]]; then
      tail -n 30 "$work/formd.log" >&2 || true
      die "formd did not answer GET /healthz 200 within 30 s"
    fi
    log "formd exited at start (attempt $attempt, port $formd_port)"
  done
  tail -n 30 "$work/formd.log" >&2 || true
  die "formd would not start"
}
start_formd
log "formd pid $formd_pid on $formd_url, data in $work/data"
[[ -s $work/data/admin.key ]] || die "formd did not write $work/data/admin.key"
admin_key=$(tr -d '[:space:]' <"$work/data/admin.key")

# ---------------------------------------------------------------- 3. form
must 201 POST /v1/projects '{"name":"bench"}'
pid=$(json_get "$work/resp" id)
must 201 POST "/v1/projects/$pid/forms" '{"name":"Bench","slug":"bench","fields":[
  {"name":"email","type":"email","required":true},
  {"name":"name","type":"text"},
  {"name":"age","type":"integer","min":0,"max":150},
  {"name":"colour","type":"select","options":["red","green","blue"]}]}'
fid=$(json_get "$work/resp" id)
must 200 POST "/v1/forms/$fid/publish"
log "project $pid, form $fid (slug bench) published"

submit_body='{"data":{"email":"a@b.org","name":"x","age":30,"colour":"red"}}'
# One submission by hand first: a clear error here beats 64 x N failures.
code=$(curl -sS -o "$work/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary "$submit_body" "$formd_url/v1/public/forms/bench/submissions") ||
  die "curl POST submission failed"
[[ $code == 201 ]] || die "POST /v1/public/forms/bench/submissions: expected 201, got $code: $(head -c 500 "$work/resp")"
must 200 GET "/v1/forms/$fid"
count_before=$(json_get "$work/resp" submission_count)
[[ $count_before == 1 ]] || die "submission_count after one submission is '$count_before', not 1"

# ---------------------------------------------------------------- 4. nginx
form_path=/v1/public/forms/bench
mkdir -p "$ngx/www${form_path%/*}"
code=$(curl -sS -o "$ngx/www$form_path" -w '%{http_code}' "$formd_url$form_path") ||
  die "curl GET $form_path failed"
[[ $code == 200 ]] || die "GET $form_path: expected 200, got $code"
chmod -R a+rX "$ngx/www"

# Temp paths of the modules built in all point into the prefix, so nginx
# creates nothing under /var/lib/nginx.
nginx_v=$(nginx -V 2>&1)
temp_paths="client_body_temp_path $ngx/client_body;"
for m in proxy fastcgi uwsgi scgi; do
  [[ $nginx_v == *"--without-http_${m}_module"* ]] || temp_paths+=$'\n'"    ${m}_temp_path $ngx/$m;"
done

nginx_port=$(pick_port) || die "no free port found"
cat >"$ngx/nginx.conf" <<EOF
# generated by bench/http.sh
worker_processes 2;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    open_file_cache max=16 inactive=60s;
    open_file_cache_valid 60s;
    server_tokens off;
    $temp_paths

    server {
        listen 127.0.0.1:$nginx_port;
        root $ngx/www;
        location = $form_path {
            types { }
            default_type application/json;
        }
        location / {
            return 404;
        }
    }
}
EOF

nginx_args=(-c "$ngx/nginx.conf" -p "$ngx/" -e "$ngx/error.log")
nginx -t -q "${nginx_args[@]}" >&2 || die "nginx rejected $ngx/nginx.conf"
nginx "${nginx_args[@]}" -g 'daemon off;' >>"$ngx/stderr.log" 2>&1 &
nginx_pid=$!
nginx_url="http://127.0.0.1:$nginx_port"
for ((i = 0; ; i++)); do
  nginx_alive || die "nginx exited at start"
  if [[ $(curl -s -o "$work/nginx-body" -w '%{http_code}' --max-time 1 "$nginx_url$form_path") == 200 ]]; then
    break
  fi
  ((i < 100)) || die "nginx did not answer GET $form_path 200 within 10 s"
  sleep 0.1
done
cmp -s "$work/nginx-body" "$ngx/www$form_path" || die "nginx does not serve the saved form body"
ctype=$(curl -s -o /dev/null -w '%{content_type}' "$nginx_url$form_path")
[[ $ctype == application/json* ]] || die "nginx serves $form_path as '$ctype'"
log "nginx pid $nginx_pid on $nginx_url serving $(wc -c <"$ngx/www$form_path") bytes"

# ---------------------------------------------------------------- 5. wrk
lua="$work/submit.lua"
cat >"$lua" <<'EOF'
-- generated by bench/http.sh: POST a valid submission, count the answers.
wrk.method = "POST"
wrk.body = '{"data":{"email":"a@b.org","name":"x","age":30,"colour":"red"}}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}

-- Runs in the main script state once per thread, before the thread starts.
function setup(thread)
  table.insert(threads, thread)
end

-- These globals live in each thread's own Lua state.
function init(args)
  created = 0
  errors = 0
  first_error = ""
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    errors = errors + 1
    if first_error == "" then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

-- Runs in the main state: read every thread's globals back.
function done(summary, latency, requests)
  local c, e, first = 0, 0, ""
  for _, t in ipairs(threads) do
    c = c + (t:get("created") or 0)
    e = e + (t:get("errors") or 0)
    local f = t:get("first_error")
    if first == "" and f ~= nil then first = f end
  end
  io.write(string.format("lua: created %d\n", c))
  io.write(string.format("lua: non201 %d\n", e))
  if first ~= "" then
    io.write("lua: first-non201 " .. (string.gsub(first, "%s+", " ")) .. "\n")
  end
end
EOF

run_wrk formd-get "$formd_url$form_path"
formd_alive || die "formd crashed during the GET run"
run_wrk nginx-get "$nginx_url$form_path"
nginx_alive || die "nginx died during its GET run"
run_wrk formd-post "$formd_url$form_path/submissions" "$lua"
formd_alive || die "formd crashed during the POST run"

# ---------------------------------------------------------------- durability
completed=$(wrk_field "$work/formd-post.out" completed)
lua_created=$(wrk_field "$work/formd-post.out" lua_created)
lua_non201=$(wrk_field "$work/formd-post.out" lua_non201)
post_sockerr=$(wrk_field "$work/formd-post.out" sockerr)
expected=$((completed - lua_non201))
# Requests still in flight when wrk stopped may be stored without wrk seeing
# the answer: wait until the count settles before comparing.
stored="" prev=""
for ((i = 0; i < 50; i++)); do
  must 200 GET "/v1/forms/$fid"
  stored=$(($(json_get "$work/resp" submission_count) - count_before))
  [[ $stored == "$prev" ]] && break
  prev=$stored
  sleep 0.2
done
diff=$((stored - expected))

# ---------------------------------------------------------------- 6. table
fg_rps=$(wrk_field "$work/formd-get.out" rps)
fg_p50=$(wrk_field "$work/formd-get.out" p50)
fg_p99=$(wrk_field "$work/formd-get.out" p99)
fg_bad=$(wrk_field "$work/formd-get.out" non2xx)
fg_sock=$(wrk_field "$work/formd-get.out" sockerr)
ng_rps=$(wrk_field "$work/nginx-get.out" rps)
ng_p50=$(wrk_field "$work/nginx-get.out" p50)
ng_p99=$(wrk_field "$work/nginx-get.out" p99)
ng_bad=$(wrk_field "$work/nginx-get.out" non2xx)
ng_sock=$(wrk_field "$work/nginx-get.out" sockerr)
fp_rps=$(wrk_field "$work/formd-post.out" rps)
fp_p50=$(wrk_field "$work/formd-post.out" p50)
fp_p99=$(wrk_field "$work/formd-post.out" p99)
ratio=$(awk -v a="$fg_rps" -v b="$ng_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
get_ok=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.8 ? "PASS" : "MISS") }')
post_ok=$(awk -v r="$fp_rps" -v p="$fp_p99" -v e="$lua_non201" -v s="$post_sockerr" \
  'BEGIN { print ((r >= 10000 && p < 50 && e == 0 && s == 0) ? "PASS" : "MISS") }')

row() { printf '%-26s %12s %8s %8s\n' "$@"; }
echo
echo "formd vs nginx, wrk ${seconds}s x $threads threads x $connections connections, $(nproc) cores${formd_extra[*]:+, formd ${formd_extra[*]}}"
row case req/s "p50 ms" "p99 ms"
row "formd GET public form" "$fg_rps" "$fg_p50" "$fg_p99"
row "nginx GET same file" "$ng_rps" "$ng_p50" "$ng_p99"
printf '%-26s %12s\n' "ratio formd/nginx GET" "$ratio"
row "formd POST submission" "$fp_rps" "$fp_p50" "$fp_p99"
echo "goals: GET >= 0.8 x nginx; POST >= 10000/s with p99 < 50 ms at 64 connections"
echo "  GET  $get_ok (ratio $ratio)"
echo "  POST $post_ok ($fp_rps req/s, p99 $fp_p99 ms, $connections connections)"
echo "POST answers: $completed completed, $lua_created 201, $lua_non201 non-201, $post_sockerr socket errors"
if ((diff == 0)); then
  verdict="equal: durable, none lost"
elif ((diff > 0 && diff <= connections)); then
  verdict="$diff more than wrk saw: requests in flight when wrk stopped; none lost"
elif ((diff > 0)); then
  verdict="$diff more than wrk saw: more than $connections in flight cannot be; check the count"
else
  verdict="$((-diff)) LOST"
fi
echo "durability: submission_count (bench run) = $stored, wrk completed - non-201 = $expected: $verdict"
((fg_bad + fg_sock == 0)) || echo "note: formd GET had $fg_bad non-2xx answers and $fg_sock socket errors"
((ng_bad + ng_sock == 0)) || echo "note: nginx GET had $ng_bad non-2xx answers and $ng_sock socket errors"
if grep -q '^lua: first-non201' "$work/formd-post.out"; then
  echo "first non-201: $(sed -n 's/^lua: first-non201 //p' "$work/formd-post.out")"
fi
# Anything in the log beyond the two start-up lines is worth a look.
grep -vE '^formd: first admin key written|^formd [^ ]+ listening on' "$work/formd.log" \
  >"$work/formd-odd.log" || true
if [[ -s $work/formd-odd.log ]]; then
  echo "formd log (--log-level warn): $(wc -l <"$work/formd-odd.log") lines; first 5:"
  head -n 5 "$work/formd-odd.log" | cut -c1-300 | sed 's/^/  /'
fi

status=0
if ((lua_non201 > 0 || post_sockerr > 0)); then
  log "FAIL: the POST run had $lua_non201 non-201 answers and $post_sockerr socket errors"
  status=1
fi
if ((diff < 0 || diff > connections)); then
  log "FAIL: submission_count does not match wrk's count of 201s ($stored vs $expected)"
  status=1
fi
exit "$status"
