"""The analytics node on PostgreSQL: one elected `formd serve` holds DuckDB.

Two serve nodes and a `formd worker` on one database. Exactly one serve node
holds the "analytics" lease; it alone runs analytics tasks (the ETL, exports);
the other answers analytics requests by forwarding them to it, with the
caller's credentials, which the analytics node checks again. When it stops,
the other takes over; with no analytics node at all, 503 and Retry-After.
On SQLite nothing of this applies (one node is always the analytics node).
"""
import time

import pytest

from conftest import ASAN, PG_URL, Client, Server, make_form, make_project, problem, publish
from test_scale_out import Worker

pytestmark = pytest.mark.skipif(not PG_URL, reason="the analytics node needs FORMD_TEST_PG_URL")

ARGS = ["--analytics-lease", "3", "--task-lease", "2"]
WAIT = 120 if ASAN else 60


def leader_url(node):
    rows = node.sql("SELECT url FROM leases WHERE name = 'analytics' AND expires_at > "
                    "(extract(epoch FROM clock_timestamp()) * 1000)::bigint")
    return rows[0][0] if rows else None


def wait_leader(node, among):
    deadline = time.time() + WAIT
    while time.time() < deadline:
        url = leader_url(node)
        for n in among:
            if n.url == url:
                return n
        time.sleep(0.1)
    raise AssertionError("no analytics node among " + ", ".join(n.url for n in among))


def export(client, fid):
    r = client.post(f"/v1/forms/{fid}/exports", {"format": "csv"})
    assert r.status_code == 202, r.text
    e = r.json()
    deadline = time.time() + WAIT
    while e["state"] == "pending" and time.time() < deadline:
        time.sleep(0.1)
        e = client.get(f"/v1/exports/{e['id']}").json()
    assert e["state"] == "ready", e
    return e


def submit(client, slug, n):
    for i in range(n):
        r = client.post(f"/v1/public/forms/{slug}/submissions",
                        {"data": {"email": f"u{i}@example.org", "age": 20 + i % 50}})
        assert r.status_code == 201, r.text


def test_one_analytics_node_others_forward_and_take_over(tmp_path):
    nodes, worker = [], None
    try:
        a = Server(str(tmp_path / "a"), ARGS + ["--workers", "2"])
        nodes.append(a)
        a.start()
        b = Server(str(tmp_path / "b"), ARGS + ["--workers", "2"],
                   env={"FORMD_DB_URL": a.db_url})
        nodes.append(b)
        b.start()
        worker = Worker(str(tmp_path / "w"), a.db_url, workers=2)
        worker.start()
        lead = wait_leader(a, nodes)
        other = b if lead is a else a
        admin = Client(lead, a.admin_key)
        via_other = Client(other, a.admin_key)
        pid = make_project(admin, "Analytics node")
        f = make_form(admin, pid, slug="node")
        publish(admin, f["id"])
        submit(via_other, "node", 30)

        # The summary, asked of the other node, is the analytics node's answer.
        r = via_other.get(f"/v1/forms/{f['id']}/analytics?fresh=true")
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 30, r.json()
        assert admin.get(f"/v1/forms/{f['id']}/analytics").json()["total"] == 30
        sql = f"SELECT count(*) AS n FROM submissions WHERE form_id = '{f['id']}'"
        q = via_other.post("/v1/analytics/query", {"sql": sql})
        assert q.status_code == 200, q.text
        assert q.json()["rows"] == [[30]] or q.json()["rows"] == [{"n": 30}], q.json()
        # Credentials are checked: none is 401, a bad one too, on either node.
        problem(Client(other).get(f"/v1/forms/{f['id']}/analytics"), 401)
        problem(Client(other, "fmd_bad").post("/v1/analytics/query", {"sql": "SELECT 1"}), 401)

        # An export asked of the other node is made on the analytics node and
        # downloads, byte for byte, from both.
        e = export(via_other, f["id"])
        d1 = via_other.get(f"/v1/exports/{e['id']}/download")
        d2 = admin.get(f"/v1/exports/{e['id']}/download")
        assert d1.status_code == 200 and d2.status_code == 200, (d1.text, d2.text)
        assert d1.content == d2.content and len(d1.content) == e["bytes"]
        assert d1.headers["Content-Disposition"] == d2.headers["Content-Disposition"]
        assert d1.headers["Content-Type"] == d2.headers["Content-Type"]

        # Every analytics task ran on the analytics node's pool, none on the others.
        runs = lead.sql("SELECT DISTINCT r.worker FROM task_runs r "
                        "JOIN tasks t ON t.id = r.task_id WHERE t.kind LIKE 'analytics.%'")
        assert runs, "no analytics task ran"
        for (w,) in runs:
            assert f":{lead.proc.pid}:" in w, (w, lead.proc.pid)
        queues = {q for (q,) in lead.sql("SELECT DISTINCT queue FROM tasks "
                                         "WHERE kind LIKE 'analytics.%'")}
        assert queues == {"analytics"}, queues

        # The analytics node stops: the other takes over and answers itself.
        lead.stop()
        nodes.remove(lead)
        new = wait_leader(other, [other])
        assert new is other
        submit(via_other, "node", 5)
        r = via_other.get(f"/v1/forms/{f['id']}/analytics?fresh=true")
        assert r.status_code == 200 and r.json()["total"] == 35, r.text
        e2 = export(via_other, f["id"])
        assert via_other.get(f"/v1/exports/{e2['id']}/download").status_code == 200
    finally:
        if worker:
            worker.stop()
        for n in nodes:
            n.stop()


def test_no_analytics_node_is_503_with_retry_after(tmp_path):
    a = Server(str(tmp_path / "a"), ARGS + ["--analytics-node", "never"]).start()
    try:
        admin = Client(a, a.admin_key)
        pid = make_project(admin, "Nobody")
        f = make_form(admin, pid)
        r = admin.get(f"/v1/forms/{f['id']}/analytics")
        problem(r, 503)
        assert r.headers["Retry-After"] == "2"
        problem(admin.post("/v1/analytics/query", {"sql": "SELECT 1"}), 503)
        # A request forwarded by a node that thought this one was the analytics node.
        r = admin.http.get(f"{a.url}/v1/forms/{f['id']}/analytics",
                           headers={"Authorization": f"Bearer {a.admin_key}",
                                    "Formd-Forwarded-By": "1"})
        assert r.status_code == 503
        assert admin.get("/readyz").status_code == 200
    finally:
        a.stop()


def test_always_takes_the_role_over(tmp_path):
    a = Server(str(tmp_path / "a"), ARGS).start()
    b = None
    try:
        assert wait_leader(a, [a]) is a
        b = Server(str(tmp_path / "b"), ARGS + ["--analytics-node", "always"],
                   env={"FORMD_DB_URL": a.db_url}).start()
        assert wait_leader(a, [b]) is b
        # a steps down and forwards from then on
        admin = Client(a, a.admin_key)
        pid = make_project(admin, "Always")
        f = make_form(admin, pid)
        publish(admin, f["id"])
        r = admin.get(f"/v1/forms/{f['id']}/analytics?fresh=true")
        assert r.status_code == 200, r.text
    finally:
        if b:
            b.stop()
        a.stop()


@pytest.mark.parametrize("args, needle", [
    (["--analytics-node", "sometimes"], "analytics-node"),
    (["--advertise-url", "ftp://node-a:8080"], "advertise-url"),
])
def test_bad_analytics_node_options(tmp_path, args, needle):
    s = Server(str(tmp_path / "a"), args)
    with pytest.raises(RuntimeError, match=needle):
        s.start()
    s.log.close()
