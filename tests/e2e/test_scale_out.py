"""Scale-out on PostgreSQL: two `formd serve` (API nodes) and two `formd worker`
processes on one database, submissions spread over both API nodes, kill -9 of
one API node and one worker mid-flight, then restarts.

Afterwards: every acknowledged submission is stored once and delivered (its
webhook task completed); no task ran on two workers at once (the lease history
in task_runs: each run ended, by its outcome or by lease expiry, before the
next began); every periodic tick, raced by four schedulers, was enqueued once.
Runs only with FORMD_TEST_PG_URL.
"""
import os
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, PG_URL, Client, Server, make_form, make_project, publish
from webhook_receiver import Receiver

pytestmark = pytest.mark.skipif(not PG_URL, reason="scale-out needs FORMD_TEST_PG_URL")

ARGS = ["--allow-private-targets", "--task-lease", "2"]
TICKS = 16


class Worker:
    """A `formd worker` process: task threads only, no HTTP."""

    def __init__(self, data_dir, db_url, workers=4, extra=()):
        self.data_dir = data_dir
        self.log_path = os.path.join(data_dir, "worker.log")
        self.args = [BIN, "worker", "--data-dir", data_dir, "--workers", str(workers)] + ARGS
        self.args += list(extra)
        self.env = dict(os.environ, FORMD_DB_URL=db_url)
        self.proc = None

    def start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        self.log = open(self.log_path, "ab")
        start = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log, env=self.env)
        deadline = time.time() + 30
        while time.time() < deadline:
            assert self.proc.poll() is None, open(self.log_path).read()
            with open(self.log_path, "rb") as f:
                f.seek(start)
                if b"task threads" in f.read():
                    return self
            time.sleep(0.05)
        raise AssertionError("worker did not start: " + open(self.log_path).read())

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()
        return self.proc.returncode


def post_until(nodes, i, stop, acked, lock):
    """Posts to nodes[i] (replaced when it restarts) until stop; a dead node is retried."""
    s = requests.Session()
    while not stop.is_set():
        try:
            r = s.post(f"{nodes[i].url}/v1/public/forms/scale/submissions",
                       json={"data": {"email": "a@b.org", "age": 30}}, timeout=5)
        except requests.RequestException:
            time.sleep(0.05)            # killed under us, or not back yet
            s = requests.Session()
            continue
        if r.status_code == 201:
            with lock:
                acked.append(r.json()["id"])


def test_two_api_nodes_two_workers_kill9_lose_and_double_nothing(tmp_path):
    receiver = Receiver()
    receiver.fail_first = 0.2
    nodes, workers = [], []
    try:
        a = Server(str(tmp_path / "api-a"), ARGS + ["--workers", "2"])
        nodes.append(a)                 # listed before it starts: the finally stops it
        a.start()
        db_url = a.db_url
        # API only: it leaves analytics (the ETL, exports) to a, the analytics node.
        b = Server(str(tmp_path / "api-b"), ARGS + ["--workers", "0", "--analytics-node", "never"],
                   env={"FORMD_DB_URL": db_url})
        nodes.append(b)
        b.start()
        # One worker listens for new tasks (LISTEN/NOTIFY), the other only polls.
        workers.append(Worker(str(tmp_path / "worker-0"), db_url))
        workers[0].start()
        workers.append(Worker(str(tmp_path / "worker-1"), db_url, extra=["--queue-poll-only"]))
        workers[1].start()
        admin = Client(a, a.admin_key)
        pid = make_project(admin, "Scale")
        f = make_form(admin, pid, slug="scale")
        publish(admin, f["id"])
        hook = admin.post(f"/v1/forms/{f['id']}/webhooks",
                          {"url": receiver.url, "events": ["submission.created"]}).json()
        receiver.secret = hook["secret"]

        # Minutely definitions whose first ticks fall during the load, raced
        # by the four processes' schedulers.
        now = int(time.time() * 1000)
        for k in range(TICKS):
            a.sql("INSERT INTO periodic_tasks (name, cron, kind, queue, payload, next_run_at) "
                  "VALUES (?, '* * * * *', 'queue.prune', 'low', '{}', ?)",
                  (f"test.tick{k}", now + 500 + k * 300))

        acked, lock, stop = [], threading.Lock(), threading.Event()
        threads = [threading.Thread(target=post_until, args=(nodes, i % 2, stop, acked, lock))
                   for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(2.5)
        b.kill9()                               # an API node and a worker, mid-flight
        workers[0].kill9()
        time.sleep(1.0)
        nodes[1] = Server(b.data_dir, ARGS + ["--workers", "0", "--analytics-node", "never"],
                          env={"FORMD_DB_URL": db_url}).start()
        workers[0] = Worker(workers[0].data_dir, db_url).start()
        time.sleep(2.5)
        stop.set()
        for t in threads:
            t.join()
        assert len(acked) > 50, "too little load to mean anything"
        assert len(set(acked)) == len(acked)

        # Every acknowledged submission is stored, once.
        stored = [r[0] for r in a.sql("SELECT id FROM submissions")]
        assert len(stored) == len(set(stored))
        assert set(acked) <= set(stored)

        # Every stored submission's webhook task completes (the killed worker's
        # tasks are rescued when their 2 s leases run out), and arrives.
        deadline = time.time() + 60
        while True:
            states = dict(a.sql("SELECT state, COUNT(*) FROM tasks "
                                "WHERE kind IN ('webhook.deliver', 'queue.prune') "
                                "GROUP BY state"))
            if set(states) == {"completed"} or time.time() > deadline:
                break
            time.sleep(0.2)
        assert set(states) == {"completed"}, states
        delivers = int(a.sql("SELECT COUNT(*) FROM tasks WHERE kind = 'webhook.deliver'")[0][0])
        assert delivers == len(stored)
        got = receiver.wait_for(
            lambda got: set(acked) <= {g["body"]["data"]["id"] for g in got
                                       if g["status"] == 200 and g["valid"]}, seconds=30)
        assert all(g["valid"] for g in got)

        # No task ran on two workers at once: in each task's lease history
        # every run ended (completed, failed, released, or expired when its
        # worker was killed) before the next one began. Times are the
        # database's clock, one for every node.
        runs = {}
        for tid, attempt, worker, start, end, outcome in a.sql(
                "SELECT r.task_id, r.attempt, r.worker, r.started_at, "
                "COALESCE(r.ended_at, -1), COALESCE(r.outcome, '') FROM task_runs r "
                "JOIN tasks t ON t.id = r.task_id "
                "WHERE t.kind IN ('webhook.deliver', 'queue.prune') "
                "ORDER BY r.task_id, r.started_at"):
            runs.setdefault(tid, []).append((int(start), int(end), worker, outcome))
        assert len(runs) == delivers + int(a.sql(
            "SELECT COUNT(*) FROM tasks WHERE kind = 'queue.prune'")[0][0])
        outcomes = {}
        for tid, rs in runs.items():
            assert rs[-1][3] == "completed", (tid, rs)
            for (s1, e1, w1, o1), (s2, e2, w2, o2) in zip(rs, rs[1:]):
                assert e1 >= 0 and e1 <= s2, (tid, rs)
            for r in rs:
                outcomes[r[3]] = outcomes.get(r[3], 0) + 1
        workers_seen = {r[2] for rs in runs.values() for r in rs}
        assert len(workers_seen) >= 3, workers_seen     # the work was spread
        print(f"\nacked {len(acked)}, stored {len(stored)}, runs by outcome {outcomes}, "
              f"{len(workers_seen)} workers")

        # Each periodic tick was enqueued once, though four schedulers raced for it.
        dup = a.sql("SELECT unique_key, COUNT(*) FROM tasks WHERE unique_key LIKE 'periodic:%' "
                    "GROUP BY unique_key HAVING COUNT(*) > 1")
        assert dup == []
        fired = int(a.sql("SELECT COUNT(DISTINCT unique_key) FROM tasks "
                          "WHERE unique_key LIKE 'periodic:test.tick%'")[0][0])
        assert fired >= TICKS

        for w in workers:
            assert w.stop() == 0
        for n in nodes:
            assert n.stop() == 0
    finally:
        receiver.close()
        for p in workers + nodes:
            if p and p.proc and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
