#!/usr/bin/env bash
# bench/queue.sh - formd's durable task queue side by side with BullMQ on
# Redis and with beanstalkd, in the same run, on the same machine.
#
#   bench/queue.sh
#   BENCH_TASKS=5000 bench/queue.sh
#
# Each side enqueues BENCH_TASKS (20000) no-op tasks as fast as its
# producers go and runs them to completion (saturated), then enqueues at a
# fixed BENCH_RATE (500/s) for BENCH_SECONDS (3) (unsaturated). Figures:
# tasks/s from the first enqueue to the last completion, and enqueue-to-start
# p50/p99 (the enqueue time travels in the task's payload; the handler takes
# its start time).
#
#   formd       bench/queue_bench.c, built here into a temporary directory
#               against build/libformd.a: a fresh SQLite database (WAL,
#               synchronous=FULL), the group-commit writer, a worker pool
#               of BENCH_WORKERS (100, as BullMQ's concurrency) threads. Producers: 4 threads x 16
#               enqueues in flight (64 concurrent clients), each enqueue its
#               own writer job, acknowledged after its commit is fsynced.
#   BullMQ      bullmq@5 (npm, cached in $HOME/.cache/formd/npm-bullmq;
#               FORMD_NPM_BULLMQ overrides) on a private redis-server with
#               appendonly yes, appendfsync everysec (an acknowledged add can
#               be lost for up to a second on power loss). Producers:
#               BENCH_BULL_CLIENTS (64) concurrent async loops, each awaiting
#               queue.add per job (no addBulk), removeOnComplete; one Worker,
#               concurrency BENCH_BULL_CONCURRENCY (100), in the same node
#               process (a worker in a second process was no faster here).
#   beanstalkd  a private beanstalkd with its binlog (-b), twice: -f 0 (fsync
#               after every write, before the reply: durable like formd, but
#               no group commit) and the default -f 50 (fsync at most every
#               50 ms, after the reply). Clients: bench/queue_beanstalk.py,
#               4 producer and 4 consumer processes, one request in flight
#               per connection.
#
# Installs redis-server and beanstalkd (through scripts/bootstrap) and
# bullmq when missing; starts every server on a free loopback port in a
# temporary directory and stops them on exit. The table goes to stdout,
# progress to stderr. The goals are informational: the exit status is
# non-zero only when something failed to run.
set -euo pipefail
cd "$(dirname "$0")/.."

export BENCH_TASKS=${BENCH_TASKS:-20000}
export BENCH_RATE=${BENCH_RATE:-500}
export BENCH_SECONDS=${BENCH_SECONDS:-3}
export BENCH_WORKERS=${BENCH_WORKERS:-100}
bull_clients=${BENCH_BULL_CLIENTS:-64}
bull_concurrency=${BENCH_BULL_CONCURRENCY:-100}
bs_producers=${BENCH_BS_PRODUCERS:-4}
bs_consumers=${BENCH_BS_CONSUMERS:-4}
npm_dir=${FORMD_NPM_BULLMQ:-$HOME/.cache/formd/npm-bullmq}
pkgs=(libmicrohttpd jansson sqlite3 libpq libsodium libpcre2-8 libcurl)

tmp=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something listens on port $1, for up to 10 s.
wait_port() {

    for _ in $(seq 100); do
        if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
            "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# "tasks N secs S tasks_per_s R ..." -> the value after field $2
field() { awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' <<<"$1"; }

if ! command -v redis-server >/dev/null || ! command -v beanstalkd >/dev/null; then
    echo "installing redis-server and beanstalkd" >&2
    scripts/bootstrap >&2
fi
if [ ! -d "$npm_dir/node_modules/bullmq" ]; then
    echo "installing bullmq@5 into $npm_dir" >&2
    npm install --prefix "$npm_dir" --no-audit --no-fund --silent bullmq@5 >&2
fi
bull_version=$(node -p "require('$npm_dir/node_modules/bullmq/package.json').version")

echo "building build/libformd.a and the bench driver" >&2
make -s build/libformd.a >&2
read -ra cflags <<<"$(pkg-config --cflags "${pkgs[@]}")"
read -ra libs <<<"$(pkg-config --libs "${pkgs[@]}")"
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc "${cflags[@]}" bench/queue_bench.c build/libformd.a \
   "${libs[@]}" -lpthread -lm -o "$tmp/queue_bench"

# ---- (a) formd ----
echo "running formd" >&2
mkdir "$tmp/formd"
formd=$("$tmp/queue_bench" "$tmp/formd" 2> >(grep -v '"migration' >&2))
echo "formd: $formd" >&2

# ---- (b) BullMQ on Redis ----
cat >"$tmp/bullmq_bench.js" <<'EOF'
// BullMQ side of bench/queue.sh: saturated, then unsaturated; prints one line.
const { Queue, Worker } = require('bullmq');
const env = (k) => parseInt(process.env[k], 10);
const N = env('BENCH_TASKS'), CLIENTS = env('BULL_CLIENTS'), CONC = env('BULL_CONCURRENCY');
const RATE = env('BENCH_RATE'), SECS = env('BENCH_SECONDS');
const connection = { host: '127.0.0.1', port: env('REDIS_PORT'), maxRetriesPerRequest: null };
const opts = { removeOnComplete: true, removeOnFail: true };
const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (a, p) => a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))];

const phases = [{ n: N, lat: new Float64Array(N), done: 0 },
                { n: RATE * SECS, lat: new Float64Array(RATE * SECS), done: 0 }];
let finish = null;

async function main() {
  const queue = new Queue('bench', { connection });
  await queue.obliterate({ force: true });
  const worker = new Worker('bench', async (job) => {
    phases[job.data.p].lat[job.data.i] = nowMs() - job.data.t;
  }, { connection, concurrency: CONC });
  worker.on('completed', (job) => {
    const ph = phases[job.data.p];
    if (++ph.done === ph.n && finish) finish();
  });
  worker.on('error', (e) => { console.error(e); process.exit(1); });
  await worker.waitUntilReady();

  // Saturated: CLIENTS concurrent producers, each awaiting its add.
  let next = 0;
  const doneSat = new Promise((r) => { finish = r; });
  const t0 = nowMs();
  const producers = [];
  for (let c = 0; c < CLIENTS; c++) {
    producers.push((async () => {
      for (let i = next++; i < N; i = next++)
        await queue.add('noop', { p: 0, i, t: nowMs() }, opts);
    })());
  }
  await Promise.all(producers);
  await doneSat;
  const secs = (nowMs() - t0) / 1000;

  // Unsaturated: RATE adds a second, on schedule, not waiting for acks.
  const doneUnsat = new Promise((r) => { finish = r; });
  const adds = [];
  const t1 = nowMs();
  for (let i = 0; i < RATE * SECS; i++) {
    const due = t1 + (i * 1000) / RATE;
    if (due > nowMs()) await sleep(due - nowMs());
    adds.push(queue.add('noop', { p: 1, i, t: nowMs() }, opts));
  }
  await Promise.all(adds);
  await doneUnsat;

  const sat = Array.from(phases[0].lat).sort((a, b) => a - b);
  const uns = Array.from(phases[1].lat).sort((a, b) => a - b);
  console.log(`tasks ${N} secs ${secs.toFixed(3)} tasks_per_s ${(N / secs).toFixed(0)} ` +
              `p50_ms ${pct(sat, 50).toFixed(2)} p99_ms ${pct(sat, 99).toFixed(2)} ` +
              `unsat_tasks ${RATE * SECS} unsat_p50_ms ${pct(uns, 50).toFixed(2)} ` +
              `unsat_p99_ms ${pct(uns, 99).toFixed(2)}`);
  await worker.close();
  await queue.close();
}
main().catch((e) => { console.error(e); process.exit(1); });
EOF

echo "running BullMQ $bull_version on Redis" >&2
mkdir "$tmp/redis"
redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$tmp/redis" --appendonly yes \
    --appendfsync everysec --save '' --daemonize no --loglevel warning >"$tmp/redis/log" 2>&1 &
pids+=("$!")
wait_port "$redis_port"
bull=$(REDIS_PORT=$redis_port BULL_CLIENTS=$bull_clients BULL_CONCURRENCY=$bull_concurrency \
       NODE_PATH="$npm_dir/node_modules" node "$tmp/bullmq_bench.js")
echo "BullMQ: $bull" >&2

# ---- (c) beanstalkd, binlog fsynced on every write, then every 50 ms ----
# Sets bs_result for a beanstalkd started with -f $1.
run_beanstalkd() {
    local dir=$tmp/beanstalkd$1 port sat unsat
    mkdir "$dir"
    port=$(free_port)
    beanstalkd -l 127.0.0.1 -p "$port" -b "$dir" -f "$1" &
    pids+=("$!")
    wait_port "$port"
    sat=$(python3 bench/queue_beanstalk.py "$port" saturated "$BENCH_TASKS" "$bs_producers" \
          "$bs_consumers")
    unsat=$(python3 bench/queue_beanstalk.py "$port" unsaturated "$BENCH_RATE" \
            "$BENCH_SECONDS" "$bs_consumers")
    bs_result="$sat unsat_p50_ms $(field "$unsat" p50_ms) unsat_p99_ms $(field "$unsat" p99_ms)"
}
echo "running beanstalkd -f 0" >&2
run_beanstalkd 0
bs0=$bs_result
echo "beanstalkd -f 0: $bs0" >&2
echo "running beanstalkd -f 50" >&2
run_beanstalkd 50
bs50=$bs_result
echo "beanstalkd -f 50: $bs50" >&2

# ---- the table ----
row() {
    printf '%-26s %9s %14s %14s %20s   %s\n' "$1" "$(field "$2" tasks_per_s)" \
        "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" unsat_p99_ms)" "$3"
}
ratio() { awk -v a="$(field "$1" tasks_per_s)" -v b="$(field "$2" tasks_per_s)" \
              'BEGIN { printf "%.2fx", a / b }'; }
f_tps=$(field "$formd" tasks_per_s)
b_tps=$(field "$bull" tasks_per_s)
f_unsat=$(field "$formd" unsat_p99_ms)

echo
echo "$BENCH_TASKS no-op tasks; unsaturated: $BENCH_RATE/s for $BENCH_SECONDS s; $(nproc) cores"
printf '%-26s %9s %14s %14s %20s   %s\n' case tasks/s "start p50 ms" "start p99 ms" \
    "unsaturated p99 ms" durability
row "formd (SQLite, fsync)" "$formd" "fsync (group commit) before every ack"
row "BullMQ $bull_version (Redis AOF 1s)" "$bull" "AOF fsync every 1 s, ack before fsync"
row "beanstalkd (binlog -f 0)" "$bs0" "fsync of every put/delete before its reply"
row "beanstalkd (binlog -f 50)" "$bs50" "fsync at most every 50 ms, after the reply"
printf '%-26s %9s\n' "ratio formd/BullMQ" "$(ratio "$formd" "$bull")"
printf '%-26s %9s\n' "ratio formd/beanstalkd -f0" "$(ratio "$formd" "$bs0")"
printf '%-26s %9s\n' "ratio formd/beanstalkd -f50" "$(ratio "$formd" "$bs50")"
goal_tps=$(awk -v a="$f_tps" -v b="$b_tps" 'BEGIN { print (a >= 2 * b) ? "MET" : "MISSED" }')
goal_lat=$(awk -v a="$f_unsat" 'BEGIN { print (a < 50) ? "MET" : "MISSED" }')
echo "goal: formd >= 2x BullMQ tasks/s: $goal_tps; unsaturated enqueue-to-start p99 < 50 ms: $goal_lat"
