#!/usr/bin/env bash
# bench/scale.sh - formd on PostgreSQL with one and two API processes, side by
# side with formd on SQLite, in the same run, on the same machine.
#
#   bench/scale.sh
#   BENCH_SECONDS=10 BENCH_TASKS=50000 bench/scale.sh
#
# Three setups, each on a fresh database:
#   sqlite      one `formd serve` on its SQLite file (the default deployment)
#   postgres-1  one `formd serve` on PostgreSQL
#   postgres-2  two `formd serve` on the same PostgreSQL database (scale-out:
#               each its own data directory, writer and worker pool)
# and two figures for each:
#   submissions/s  durable submissions: wrk POSTs a valid submission to
#                  /v1/public/forms/bench/submissions for BENCH_SECONDS (5)
#                  over BENCH_CONNECTIONS (64) connections, split evenly over
#                  the API processes; every answer must be 201 (a 201 means
#                  committed and fsynced: PostgreSQL runs with fsync and
#                  synchronous_commit on), and the stored count must not be
#                  below wrk's count of 201s.
#   tasks/s        BENCH_TASKS (20000) tasks of the cheapest built-in kind
#                  (queue.prune with nothing to prune) inserted in one
#                  transaction, from that commit until the last completes,
#                  with BENCH_TASK_WORKERS (16) task threads per process.
#
# PostgreSQL: FORMD_BENCH_PG_URL (postgres://USER@HOST:PORT/DB, a user that may
# CREATE DATABASE), else a private cluster from scripts/pg-cluster, stopped on
# exit. Needs wrk, curl, psql, python3. The table goes to stdout, progress to
# stderr; the exit status is non-zero only when something failed to run or a
# durability check failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${BENCH_SECONDS:-5}
connections=${BENCH_CONNECTIONS:-64}
ntasks=${BENCH_TASKS:-20000}
task_workers=${BENCH_TASK_WORKERS:-16}
pg_url=${FORMD_BENCH_PG_URL:-}

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

for v in seconds connections ntasks task_workers; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
for tool in make curl wrk python3 awk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (make bootstrap installs it)"
done
psql_bin=$(command -v psql || true)
if [[ -z $psql_bin ]]; then
  for p in /usr/lib/postgresql/*/bin/psql; do [[ -x $p ]] && psql_bin=$p; done
fi
[[ -x $psql_bin ]] || die "psql is not installed (apt-get install postgresql-client)"

work=""
cluster=""
pids=()

# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [[ -n $cluster ]] && "$root/scripts/pg-cluster" stop "$cluster" >/dev/null 2>&1
  [[ -n $work && -d $work ]] && rm -rf -- "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

psql_q() { "$psql_bin" -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

log "building build/formd"
make -C "$root" -s build/formd >&2 || die "make build/formd failed"
formd_bin="$root/build/formd"

work=$(mktemp -d "${TMPDIR:-/tmp}/formd-scale.XXXXXX")
chmod 0755 "$work"     # the private cluster's owner (postgres, when root) must reach it
if [[ -z $pg_url ]]; then
  log "starting a private PostgreSQL cluster"
  cluster="$work/pg"
  pg_url=$("$root/scripts/pg-cluster" start "$cluster") || die "scripts/pg-cluster start failed"
fi

# Starts `formd serve` NAME on database DB ("" for SQLite); sets $port.
start_serve() {
  local name=$1 db=$2 i args
  port=$(free_port)
  # Rate limits off: the load comes from one address (docs/security.md).
  args=(serve --listen "127.0.0.1:$port" --data-dir "$work/$name" --log-level warn
        --workers "$task_workers" --rate-public 0 --rate-management 0)
  [[ -n $db ]] && args+=(--database "$db")
  "$formd_bin" "${args[@]}" >>"$work/$name.log" 2>&1 &
  pids+=("$!")
  for ((i = 0; i < 300; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
         "http://127.0.0.1:$port/healthz") == 200 ]] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$work/$name.log" >&2
  die "formd serve $name did not start"
}

stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}

api() { # key method url [body]
  local args=(-sS -f -X "$2" -H "Authorization: Bearer $1" "$3")
  [[ $# -ge 4 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${args[@]}"
}

json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Runs one SQL statement on the setup's database, printing rows as a|b lines.
sql() {
  if [[ -n $db ]]; then
    psql_q "$db" "$1"
  else
    python3 - "$work/$first/formd.db" "$1" <<'EOF'
import sqlite3, sys
with sqlite3.connect(sys.argv[1], timeout=30) as c:
    for row in c.execute(sys.argv[2]):
        print("|".join("" if v is None else str(v) for v in row))
EOF
  fi
}

lua="$work/submit.lua"
cat >"$lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"data":{"email":"a@b.org","name":"x","age":30}}'
wrk.headers["Content-Type"] = "application/json"
EOF

wrk_field() { # file rps|p99|non2xx|sockerr|requests
  case $2 in
    rps) awk '$1 == "Requests/sec:" { print $2 }' "$1" ;;
    requests) awk '$2 == "requests" && $3 == "in" { print $1 }' "$1" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1" ;;
    sockerr) awk '/Socket errors:/ { for (i = 3; i <= NF; i += 2) s += $(i + 1) + 0 }
                  END { print s + 0 }' "$1" ;;
    p99) awk '$1 == "99%" { v = $2; u = v; sub(/^[0-9.]+/, "", u); n = v + 0
                  if (u == "us") n /= 1000; else if (u == "s") n *= 1000
                  printf "%.1f", n }' "$1" ;;
  esac
}

# One setup: NAME, database URL ("" for SQLite), number of API processes.
results=()
run_setup() {
  local name=$1 nodes=$2 i key pid fid urls=() per rps=0 p99=0 created=0 stored bad=0
  local now t0 t1 done_n wrks
  first="$name-1"
  for ((i = 1; i <= nodes; i++)); do
    start_serve "$name-$i" "$db"
    urls+=("http://127.0.0.1:$port")
  done
  key=$(tr -d '[:space:]' <"$work/$first/admin.key")
  pid=$(api "$key" POST "${urls[0]}/v1/projects" '{"name":"bench"}' | json_field id)
  fid=$(api "$key" POST "${urls[0]}/v1/projects/$pid/forms" '{"name":"Bench","slug":"bench",
    "fields":[{"name":"email","type":"email","required":true},{"name":"name","type":"text"},
    {"name":"age","type":"integer","min":0,"max":150}]}' | json_field id)
  api "$key" POST "${urls[0]}/v1/forms/$fid/publish" >/dev/null

  log "$name: wrk ${seconds}s, $connections connections over $nodes API process(es)"
  per=$((connections / nodes))
  ((per >= 1)) || per=1
  wrks=()
  for ((i = 0; i < nodes; i++)); do
    wrk --threads 1 --connections "$per" --duration "${seconds}s" --latency --script "$lua" \
      "${urls[i]}/v1/public/forms/bench/submissions" >"$work/$name-wrk-$i.out" 2>&1 &
    wrks+=("$!")
  done
  for i in "${wrks[@]}"; do
    wait "$i" || die "$name: wrk failed: $(cat "$work/$name"-wrk-*.out)"
  done
  for ((i = 0; i < nodes; i++)); do
    local f="$work/$name-wrk-$i.out"
    [[ -n $(wrk_field "$f" rps) ]] || die "no figures from wrk: $(cat "$f")"
    rps=$(awk -v a="$rps" -v b="$(wrk_field "$f" rps)" 'BEGIN { printf "%.0f", a + b }')
    p99=$(awk -v a="$p99" -v b="$(wrk_field "$f" p99)" 'BEGIN { print (b > a ? b : a) }')
    bad=$((bad + $(wrk_field "$f" non2xx) + $(wrk_field "$f" sockerr)))
    created=$((created + $(wrk_field "$f" requests) - $(wrk_field "$f" non2xx)))
  done
  stored=$(sql "SELECT COUNT(*) FROM submissions")
  ((bad == 0)) || die "$name: $bad answers were not 201 or failed"
  ((stored >= created)) || die "$name: $created acknowledged but $stored stored"

  log "$name: $ntasks tasks over $nodes process(es) x $task_workers task threads"
  now=$(($(date +%s%N) / 1000000))
  t0=$(date +%s%N)
  if [[ -n $db ]]; then
    psql_q "$db" "BEGIN; INSERT INTO tasks (id, kind, queue, state, run_at, created_at, updated_at)
      SELECT 'B' || lpad(g::text, 25, '0'), 'queue.prune', 'default', 'available', $now, $now, $now
      FROM generate_series(1, $ntasks) g; SELECT pg_notify('formd_tasks', 'default'); COMMIT;" \
      >/dev/null
  else
    sql "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $ntasks)
      INSERT INTO tasks (id, kind, queue, state, run_at, created_at, updated_at)
      SELECT printf('B%025d', n), 'queue.prune', 'default', 'available', $now, $now, $now
      FROM g" >/dev/null
  fi
  for ((i = 0; i < 6000; i++)); do
    done_n=$(sql "SELECT COUNT(*) FROM tasks WHERE id LIKE 'B%' AND state = 'completed'")
    ((done_n >= ntasks)) && break
    sleep 0.05
  done
  t1=$(date +%s%N)
  ((done_n >= ntasks)) || die "$name: only $done_n of $ntasks tasks completed in 5 minutes"
  stop_all
  results+=("$(printf '%-12s %5s %14s %9s %10s' "$name" "$nodes" "$rps" "$p99" \
    "$(awk -v n="$ntasks" -v d=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (d / 1e9) }')")")
}

db=""
run_setup sqlite 1
for n in 1 2; do
  base=${pg_url%/*}
  psql_q "$pg_url" "DROP DATABASE IF EXISTS formd_scale_$n" >/dev/null 2>&1 || true
  psql_q "$pg_url" "CREATE DATABASE formd_scale_$n" >/dev/null
  db="$base/formd_scale_$n"
  run_setup "postgres-$n" "$n"
done

printf '%-12s %5s %14s %9s %10s\n' setup procs submissions/s p99_ms tasks/s
printf '%s\n' "${results[@]}"
