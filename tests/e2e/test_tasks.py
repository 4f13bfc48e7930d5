"""The task queue through the API: task state, retry, cancel, queues.

No endpoint enqueues arbitrary tasks, so the tests put task rows straight
into the server's database (SQLite allows a second writer; the server picks
them up like any other). A kind with no handler is discarded on its first
attempt with a clear error, which makes every state reachable.
"""
import random
import time

import pytest

from conftest import make_project, problem

B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id():
    return "01" + "".join(random.choice(B32) for _ in range(24))


def insert_task(server, kind="test.unknown", queue="default", state="available",
                run_at=None, project_id=None):
    now = int(time.time() * 1000)
    tid = new_id()
    server.sql("INSERT INTO tasks (id, kind, queue, state, run_at, project_id, created_at,"
               " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (tid, kind, queue, state, run_at or now, project_id, now, now))
    return tid


def wait_task(client, tid, state, seconds=15):
    deadline = time.time() + seconds
    task = None
    while time.time() < deadline:
        task = client.get(f"/v1/tasks/{tid}").json()
        if task.get("state") == state:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {tid} never reached {state}: {task}")


@pytest.fixture(scope="module")
def project(admin):
    return make_project(admin, "Tasks")


def test_a_task_without_handler_is_discarded_with_the_reason(admin, project):
    tid = insert_task(admin.server, project_id=project)
    task = wait_task(admin, tid, "discarded")
    assert task["attempts"] == 1
    assert "no handler for task kind 'test.unknown'" in task["error"]
    assert task["finished_at"] is not None
    assert set(task) == {"id", "kind", "queue", "state", "priority", "attempts", "max_attempts",
                         "progress", "result", "error", "run_at", "created_at", "updated_at",
                         "finished_at", "runs"}
    # The lease history: one run, by this server's worker, ended by the discard.
    [run] = task["runs"]
    assert run["attempt"] == 1 and run["outcome"] == "discarded" and run["worker"]
    assert run["started_at"] <= run["ended_at"]


def test_retry_runs_a_discarded_task_again(admin, project):
    tid = insert_task(admin.server, project_id=project)
    wait_task(admin, tid, "discarded")
    r = admin.post(f"/v1/tasks/{tid}/retry")
    assert r.status_code == 200, r.text
    task = wait_task(admin, tid, "discarded")
    assert task["attempts"] == 2


def test_cancel_a_scheduled_task_then_409(admin, project):
    later = int(time.time() * 1000) + 3600 * 1000
    tid = insert_task(admin.server, state="scheduled", run_at=later, project_id=project)
    assert admin.get(f"/v1/tasks/{tid}").json()["state"] == "scheduled"
    r = admin.post(f"/v1/tasks/{tid}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    problem(admin.post(f"/v1/tasks/{tid}/cancel"), 409, "conflict")


def test_unknown_task_is_404(admin):
    problem(admin.get("/v1/tasks/01AAAAAAAAAAAAAAAAAAAAAAAA"), 404, "not_found")
    problem(admin.post("/v1/tasks/01AAAAAAAAAAAAAAAAAAAAAAAA/retry"), 404, "not_found")


def test_queues_list_pause_and_resume(admin, project):
    r = admin.get("/v1/queues")
    assert r.status_code == 200, r.text
    names = [q["name"] for q in r.json()["items"]]
    assert names == ["analytics", "critical", "default", "high", "low"]
    r = admin.post("/v1/queues/low/pause")
    assert r.status_code == 200 and r.json() == {"name": "low", "paused": True}
    tid = insert_task(admin.server, queue="low", project_id=project)
    time.sleep(1.0)
    assert admin.get(f"/v1/tasks/{tid}").json()["state"] == "available"
    low = [q for q in admin.get("/v1/queues").json()["items"] if q["name"] == "low"][0]
    assert low["paused"] is True and low["depth"] >= 1
    assert admin.post("/v1/queues/low/resume").json() == {"name": "low", "paused": False}
    wait_task(admin, tid, "discarded")
    problem(admin.post("/v1/queues/nope/pause"), 404, "not_found")


def test_task_roles_and_projects(admin, project):
    other = make_project(admin, "Other")
    viewer = admin.as_(admin.server.cli("admin", "create-key", "--name", "v", "--role", "viewer",
                                        "--project", project).stdout.strip())
    mine = insert_task(admin.server, state="scheduled",
                       run_at=int(time.time() * 1000) + 3600 * 1000, project_id=project)
    theirs = insert_task(admin.server, state="scheduled",
                         run_at=int(time.time() * 1000) + 3600 * 1000, project_id=other)
    system = insert_task(admin.server, state="scheduled",
                         run_at=int(time.time() * 1000) + 3600 * 1000)
    assert viewer.get(f"/v1/tasks/{mine}").status_code == 200
    problem(viewer.get(f"/v1/tasks/{theirs}"), 404, "not_found")
    problem(viewer.get(f"/v1/tasks/{system}"), 404, "not_found")
    problem(viewer.post(f"/v1/tasks/{mine}/cancel"), 403, "forbidden")
    problem(viewer.get("/v1/queues"), 403, "forbidden")
    problem(viewer.post("/v1/queues/low/pause"), 403, "forbidden")
    problem(admin.as_(None).get(f"/v1/tasks/{mine}"), 401, "unauthorized")


def test_queue_metrics_are_exposed(admin, project):
    tid = insert_task(admin.server, project_id=project)
    wait_task(admin, tid, "discarded")
    text = admin.get("/metrics").text
    assert 'formd_queue_tasks_finished_total{queue="default",kind="test.unknown",outcome="discarded"}' in text
    assert "formd_queue_wait_seconds_bucket" in text
    assert "formd_queue_tasks_claimed_total" in text


def test_a_dead_workers_task_is_rescued_within_seconds(admin, project):
    # A worker claimed it (attempt 1) and died: its lease ran out a moment ago.
    now = int(time.time() * 1000)
    tid = new_id()
    admin.server.sql("INSERT INTO tasks (id, kind, queue, state, run_at, attempt, lease_until,"
                     " worker, project_id, created_at, updated_at) VALUES"
                     " (?, 'test.unknown', 'default', 'running', ?, 1, ?, 'dead:1:x', ?, ?, ?)",
                     (tid, now, now - 1, project, now, now))
    task = wait_task(admin, tid, "discarded", seconds=10)
    assert task["attempts"] == 2          # the lost attempt counted, then one more
    text = admin.get("/metrics").text
    assert "formd_queue_lease_rescues_total" in text


def test_the_retention_task_is_scheduled(admin):
    rows = admin.server.sql("SELECT name, cron, kind, queue FROM periodic_tasks")
    assert ("queue.retention", "*/5 * * * *", "queue.prune", "low") in rows


def test_task_list_filters(admin, project):
    tid = insert_task(admin.server, kind="test.listed", queue="high", project_id=project)
    wait_task(admin, tid, "discarded")
    page = admin.get("/v1/tasks?kind=test.listed&state=discarded").json()
    assert [t["id"] for t in page["items"]] == [tid]
    assert admin.get("/v1/tasks?queue=high&kind=test.listed").json()["items"][0]["id"] == tid
    assert admin.get("/v1/tasks?state=running&kind=test.listed").json()["items"] == []
    problem(admin.get("/v1/tasks?state=bogus"), 400, "invalid")
    problem(admin.get("/v1/tasks?cursor=nope"), 400, "invalid")


def test_queue_gauges(admin, project):
    text = admin.get("/metrics").text
    for name in ("formd_queue_depth", "formd_queue_running", "formd_queue_scheduled",
                 "formd_queue_discarded", "formd_queue_oldest_age_seconds"):
        assert f'{name}{{queue="low"}}' in text, name


def test_queues_show_throughput(admin):
    q = admin.get("/v1/queues").json()["items"][0]
    assert isinstance(q["completed_last_minute"], int)


def test_formd_worker_runs_tasks_for_a_server_without_workers(tmp_path):
    import signal
    import subprocess

    from conftest import BIN, Client, Server
    data = str(tmp_path / "data")
    server = Server(data, ["--workers", "0"]).start()
    worker = subprocess.Popen([BIN, "worker", "--data-dir", data, "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=server.env)
    try:
        admin = Client(server, server.admin_key)
        pid = make_project(admin, "Workers")
        tid = insert_task(server, project_id=pid)
        task = wait_task(admin, tid, "discarded")
        assert task["attempts"] == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, worker.stderr.read().decode()
        assert server.stop() == 0
