"""Analytics end to end: the ETL into DuckDB, a form's summary, exports, admin SQL.

Every figure the server reports is checked against the same figure computed
here from what the test submitted and changed through the API (several form
versions, reviews, soft deletes, a restore and purges). Every export format
is read back: CSV and JSON Lines here, Parquet by DuckDB itself through the
admin query endpoint, XLSX with openpyxl.
"""
import csv
import io
import json
import os
import random
import statistics
import tempfile
import time

import pytest

from conftest import PG_URL, ASAN, Client, Server, make_project, problem, publish, sqlite_only

V1 = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "color": {"enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True},
        "born": {"type": "string", "format": "date"},
        "consent": {"type": "boolean"},
    },
}
# v2: a new field, and age may now be fractional (the column widens to DOUBLE)
V2 = json.loads(json.dumps(V1))
V2["properties"]["score"] = {"type": "number"}
V2["properties"]["age"] = {"type": "number", "minimum": 0, "maximum": 150}

N1, N2 = (60, 40) if ASAN else (240, 160)


def answers(rng, version):
    d = {"name": rng.choice(["Ada", "Grace", "Émilie", "Sofia Kovalevskaya", 'Quote "q", comma']),
         "consent": rng.random() < 0.7}
    if rng.random() < 0.9:
        d["age"] = rng.randint(18, 90) if version == 1 else round(rng.uniform(18, 90), 1)
    if rng.random() < 0.8:
        d["color"] = rng.choice(["red", "green", "blue", "red"])
    d["tags"] = sorted(rng.sample(["a", "b", "c"], rng.randint(0, 3)))
    if rng.random() < 0.5:
        d["born"] = f"19{rng.randint(50, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    if version == 2 and rng.random() < 0.6:
        d["score"] = round(rng.uniform(0, 10), 2)
    return d


@pytest.fixture(scope="module")
def world():
    """A server with one form, two published versions, and submissions changed every way."""
    with tempfile.TemporaryDirectory(prefix="formd-analytics-") as d:
        s = Server(os.path.join(d, "data"), ["--export-ttl", "60"]).start()
        admin = Client(s, s.admin_key)
        pid = make_project(admin, "Analytics")
        r = admin.post(f"/v1/projects/{pid}/forms", {"name": "Survey", "schema": V1})
        assert r.status_code == 201, r.text
        form = r.json()
        publish(admin, form["id"])
        rng = random.Random(7)
        subs = {}
        for i in range(N1 + N2):
            if i == N1:
                r = admin.put(f"/v1/forms/{form['id']}/draft", {"schema": V2})
                assert r.status_code == 200, r.text
                publish(admin, form["id"])
            version = 1 if i < N1 else 2
            data = answers(rng, version)
            r = admin.post(f"/v1/public/forms/{form['slug']}/submissions", {"data": data})
            assert r.status_code == 201, r.text
            subs[r.json()["id"]] = {"data": data, "version": version, "status": "new",
                                    "deleted": False}
        ids = sorted(subs)
        for sid in ids[0:30]:
            r = admin.patch(f"/v1/submissions/{sid}", {"status": "approved"})
            assert r.status_code == 200, r.text
            subs[sid]["status"] = "approved"
        for sid in ids[30:40]:
            r = admin.patch(f"/v1/submissions/{sid}", {"status": "rejected"})
            assert r.status_code == 200, r.text
            subs[sid]["status"] = "rejected"
        for sid in ids[40:55]:
            assert admin.delete(f"/v1/submissions/{sid}").status_code == 204
            subs[sid]["deleted"] = True
        assert admin.post(f"/v1/submissions/{ids[40]}/restore").status_code == 200
        subs[ids[40]]["deleted"] = False
        for sid in ids[55:60]:
            assert admin.delete(f"/v1/submissions/{sid}").status_code == 204
            assert admin.post(f"/v1/submissions/{sid}/purge").status_code == 204
            del subs[sid]
        edited = ids[60]
        new = dict(subs[edited]["data"], name="Edited name")
        r = admin.patch(f"/v1/submissions/{edited}", {"data": new})
        assert r.status_code == 200, r.text
        subs[edited]["data"] = new
        s.world = {"admin": admin, "pid": pid, "form": form, "subs": subs}
        yield s
        rc = s.stop()
        log = s.read_log()
        assert rc == 0, log
        if ASAN:
            assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log


def live(world, **flt):
    out = []
    for sid, s in world.world["subs"].items():
        if s["deleted"] and not flt.get("include_deleted"):
            continue
        if flt.get("status") and s["status"] != flt["status"]:
            continue
        if flt.get("version") and s["version"] != flt["version"]:
            continue
        out.append((sid, s))
    return out


def summary(world, **params):
    w = world.world
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return w["admin"].get(f"/v1/forms/{w['form']['id']}/analytics?fresh=true&{q}")


def field(doc, name):
    return next(f for f in doc["fields"] if f["name"] == name)


# ---- the summary ----

def test_totals_statuses_versions_days(world):
    r = summary(world)
    assert r.status_code == 200, r.text
    doc = r.json()
    rows = live(world)
    assert doc["total"] == len(rows)
    assert doc["deleted_excluded"] == sum(1 for s in world.world["subs"].values() if s["deleted"])
    for st in ("new", "approved", "rejected", "needs_changes"):
        assert doc["statuses"][st] == sum(1 for _, s in rows if s["status"] == st), st
    assert {v["version"]: v["count"] for v in doc["versions"]} == {
        v: sum(1 for _, s in rows if s["version"] == v) for v in (1, 2)}
    assert sum(d["count"] for d in doc["per_day"]) == len(rows)
    assert doc["first_at"] and doc["last_at"] and doc["first_at"] <= doc["last_at"]


def test_fields_match_the_submitted_data(world):
    doc = summary(world).json()
    rows = [s["data"] for _, s in live(world)]
    names = [f["name"] for f in doc["fields"]]
    assert names[:6] == ["name", "age", "color", "tags", "born", "consent"] and "score" in names

    color = field(doc, "color")
    assert color["kind"] == "choice"
    counts = {v["value"]: v["count"] for v in color["values"]}
    for c in ("red", "green", "blue"):
        assert counts[c] == sum(1 for d in rows if d.get("color") == c), c
    assert color["missing"] == sum(1 for d in rows if "color" not in d)

    age = field(doc, "age")
    assert age["kind"] == "number"   # integer in v1, number in v2: widened
    ages = [d["age"] for d in rows if "age" in d]
    assert age["count"] == len(ages)
    assert age["min"] == pytest.approx(min(ages)) and age["max"] == pytest.approx(max(ages))
    assert age["mean"] == pytest.approx(statistics.mean(ages))
    assert age["median"] == pytest.approx(statistics.median(ages))

    tags = field(doc, "tags")
    assert tags["kind"] == "multichoice"
    sel = {v["value"]: v["count"] for v in tags["values"]}
    for t in ("a", "b", "c"):
        assert sel[t] == sum(1 for d in rows if t in d.get("tags", [])), t

    consent = field(doc, "consent")
    yes = {str(v["value"]).lower(): v["count"] for v in consent["values"]}
    assert yes["true"] == sum(1 for d in rows if d["consent"] is True)

    name = field(doc, "name")
    lengths = [len(d["name"]) for d in rows]
    assert name["count"] == len(rows) and name["missing"] == 0
    assert name["length"]["min"] == min(lengths) and name["length"]["max"] == max(lengths)

    born = field(doc, "born")
    dates = sorted(d["born"] for d in rows if "born" in d)
    assert born["min"] == dates[0] and born["max"] == dates[-1]

    score = field(doc, "score")
    scores = [d["score"] for d in rows if "score" in d]
    assert score["count"] == len(scores)
    assert score["missing"] == len(rows) - len(scores)


def test_filters(world):
    for st in ("approved", "rejected", "new"):
        doc = summary(world, status=st).json()
        assert doc["total"] == len(live(world, status=st)), st
    assert summary(world, version=2).json()["total"] == len(live(world, version=2))
    assert summary(world, include_deleted="true").json()["total"] == len(
        live(world, include_deleted=True))
    assert summary(world, **{"from": "2999-01-01"}).json()["total"] == 0
    assert summary(world, to="2000-01-01").json()["total"] == 0
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert summary(world, **{"from": today, "to": today}).json()["total"] == len(live(world))


@pytest.mark.parametrize("query, needle", [
    ("status=bogus", "status"),
    ("version=abc", "version"),
    ("version=0", "version"),
    ("from=yesterday", "from"),
    ("to=2026-13-45", "to"),
    ("include_deleted=maybe", "include_deleted"),
    ("fresh=yes", "fresh"),
])
def test_bad_filters(world, query, needle):
    w = world.world
    p = problem(w["admin"].get(f"/v1/forms/{w['form']['id']}/analytics?{query}"), 400)
    assert needle in p["detail"], p


def test_summary_access_and_unknown_forms(world):
    w = world.world
    admin = w["admin"]
    problem(admin.get("/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV/analytics"), 404)
    problem(Client(world).get(f"/v1/forms/{w['form']['id']}/analytics"), 401)
    other = make_project(admin, "Other")
    key = world.cli("admin", "create-key", "--name", "v", "--role", "viewer", "--project",
                    other).stdout.strip()
    problem(admin.as_(key).get(f"/v1/forms/{w['form']['id']}/analytics"), 404)
    r = admin.post(f"/v1/projects/{w['pid']}/forms", {"name": "Draft only", "schema": V1})
    problem(admin.get(f"/v1/forms/{r.json()['id']}/analytics"), 409, "not_published")


def test_the_periodic_etl_and_lag_metric(world):
    r = world.world["admin"].get("/metrics")
    assert r.status_code == 200
    assert "formd_analytics_etl_lag_seconds" in r.text


# ---- admin SQL ----

def query(world, sql, **kw):
    return world.world["admin"].post("/v1/analytics/query", dict({"sql": sql}, **kw))


def test_query_reads_the_analytics_tables(world):
    summary(world)   # synced
    r = query(world, "SELECT count(*) AS n FROM submissions WHERE deleted_at IS NULL")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["columns"][0]["name"] == "n"
    assert doc["rows"] == [[len(live(world))]]
    assert doc["truncated"] is False


def test_query_limits_rows_and_time(world):
    doc = query(world, "SELECT * FROM range(100)", max_rows=10).json()
    assert len(doc["rows"]) == 10 and doc["truncated"] is True
    t0 = time.time()
    p = problem(query(world, "SELECT count(*) FROM range(100000000000)", timeout_ms=300), 422,
                "query_timeout")
    assert time.time() - t0 < 10, p


@pytest.mark.parametrize("sql", [
    "COPY submissions TO '/tmp/x.csv'",
    "ATTACH '/tmp/other.duckdb'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    "CREATE TABLE t (a INT)",
    "DROP TABLE submissions",
    "DELETE FROM submissions",
    "SELECT 1; SELECT 2",
    "EXPLAIN ANALYZE SELECT 1",
])
def test_query_refuses_what_is_not_one_select(world, sql):
    p = problem(query(world, sql), 400)
    assert p["detail"], p


def test_query_cannot_read_files(world):
    r = query(world, "SELECT * FROM read_csv('/etc/passwd')")
    assert r.status_code in (400, 403), r.text
    problem(r, r.status_code)


@pytest.mark.parametrize("body", [
    {}, {"sql": ""}, {"sql": 5}, {"sql": "SELECT 1", "max_rows": 0},
    {"sql": "SELECT 1", "timeout_ms": "x"}, {"sql": "SELECT 1", "extra": 1},
    {"sql": "SELEC 1"},
])
def test_query_bad_bodies(world, body):
    problem(world.world["admin"].post("/v1/analytics/query", body), 400)


def test_query_needs_a_global_admin(world):
    w = world.world
    key = world.cli("admin", "create-key", "--name", "e", "--role", "editor", "--project",
                    w["pid"]).stdout.strip()
    problem(w["admin"].as_(key).post("/v1/analytics/query", {"sql": "SELECT 1"}), 403)
    problem(Client(world).post("/v1/analytics/query", {"sql": "SELECT 1"}), 401)


# ---- exports ----

def export(world, **body):
    w = world.world
    r = w["admin"].post(f"/v1/forms/{w['form']['id']}/exports", body)
    assert r.status_code == 202, r.text
    e = r.json()
    assert r.headers["Location"] == f"/v1/exports/{e['id']}"
    deadline = time.time() + (120 if ASAN else 60)
    while e["state"] == "pending" and time.time() < deadline:
        time.sleep(0.1)
        e = w["admin"].get(f"/v1/exports/{e['id']}").json()
    assert e["state"] == "ready", e
    assert e["progress"] == 1
    return e


def download(world, e):
    r = world.world["admin"].get(f"/v1/exports/{e['id']}/download")
    assert r.status_code == 200, r.text
    cd = r.headers["Content-Disposition"]
    assert cd.startswith('attachment; filename="') and cd.endswith('.' + e["format"] + '"'), cd
    assert len(r.content) == e["bytes"]
    return r


def test_csv_export_round_trips(world):
    e = export(world, format="csv")
    r = download(world, e)
    assert r.headers["Content-Type"].startswith("text/csv")
    assert not r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8"), newline="")))
    want = dict(live(world))
    assert e["rows"] == len(rows) == len(want)
    assert set(r["submission_id"] for r in rows) == set(want)
    for row in rows:
        data = want[row["submission_id"]]["data"]
        assert row["name"] == data["name"]
        assert row["color"] == data.get("color", "")
        assert row["status"] == want[row["submission_id"]]["status"]
    assert b"\r\n" in r.content
    # and DuckDB reads the same file back to the same rows
    path = exported_path(world, e)
    r = query(world, f"SELECT count(*), count(DISTINCT submission_id) FROM read_csv('{path}')")
    assert r.status_code == 200, r.text
    assert r.json()["rows"][0] == [len(want), len(want)]


def test_csv_export_with_bom_and_deleted_rows(world):
    e = export(world, format="csv", bom=True, include_deleted=True)
    body = download(world, e).content
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body[3:].decode("utf-8"), newline="")))
    assert len(rows) == len(live(world, include_deleted=True))


def test_jsonl_export_round_trips_with_types(world):
    e = export(world, format="jsonl", status="approved")
    lines = download(world, e).content.decode("utf-8").splitlines()
    want = dict(live(world, status="approved"))
    assert len(lines) == len(want) == e["rows"]
    for line in lines:
        row = json.loads(line)
        data = want[row["submission_id"]]["data"]
        assert row["name"] == data["name"]
        assert row["consent"] is data["consent"]
        if "age" in data:
            assert row["age"] == pytest.approx(data["age"])
        assert row["tags"] == (data["tags"] if data["tags"] else row["tags"])
    path = exported_path(world, e)
    r = query(world, f"SELECT count(*), sum(CASE WHEN consent THEN 1 ELSE 0 END) "
                     f"FROM read_json('{path}')")
    assert r.status_code == 200, r.text
    assert r.json()["rows"][0] == [len(want), sum(1 for s in want.values() if s["data"]["consent"])]


def exported_path(world, e):
    files = [f for f in os.listdir(os.path.join(world.data_dir, "exports")) if e["id"] in f]
    assert len(files) == 1, files
    return os.path.realpath(os.path.join(world.data_dir, "exports", files[0]))


def test_parquet_export_read_back_by_duckdb(world):
    e = export(world, format="parquet")
    body = download(world, e).content
    assert body[:4] == b"PAR1" and body[-4:] == b"PAR1"
    path = exported_path(world, e)
    r = query(world, f"SELECT count(*), count(DISTINCT submission_id), sum(age) "
                     f"FROM read_parquet('{path}')")
    assert r.status_code == 200, r.text
    n, distinct, age_sum = r.json()["rows"][0]
    rows = live(world)
    assert n == distinct == len(rows) == e["rows"]
    assert age_sum == pytest.approx(sum(s["data"].get("age", 0) for _, s in rows))
    cols = query(world, f"DESCRIBE SELECT * FROM read_parquet('{path}')").json()["rows"]
    types = {c[0]: c[1] for c in cols}
    assert types["age"] == "DOUBLE" and types["consent"] == "BOOLEAN", types
    assert types["born"] == "DATE" and types["tags"] == "VARCHAR[]", types


def test_xlsx_export_read_back(world):
    openpyxl = pytest.importorskip("openpyxl")
    e = export(world, format="xlsx", version=1)
    book = openpyxl.load_workbook(io.BytesIO(download(world, e).content), read_only=True)
    rows = [row for ws in book.worksheets for row in ws.iter_rows(values_only=True)]
    header, body = rows[0], rows[1:]
    assert "submission_id" in header and "name" in header
    assert len(body) == len(live(world, version=1)) == e["rows"]


@pytest.mark.parametrize("body, status", [
    ({"format": "pdf"}, 400),
    ({}, 400),
    ({"format": "csv", "bom": "yes"}, 400),
    ({"format": "csv", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 400),
    ({"format": "csv", "status": "bogus"}, 400),
    ({"format": "csv", "version": 0}, 400),
    ({"format": "csv", "from": "last week"}, 400),
    ({"format": "csv", "surprise": 1}, 400),
])
def test_export_bad_requests(world, body, status):
    w = world.world
    problem(w["admin"].post(f"/v1/forms/{w['form']['id']}/exports", body), status)


def test_export_access(world):
    w = world.world
    admin = w["admin"]
    problem(admin.post("/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV/exports", {"format": "csv"}), 404)
    problem(admin.get("/v1/exports/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
    problem(admin.get("/v1/exports/01ARZ3NDEKTSV4RRFFQ69G5FAV/download"), 404)
    e = export(world, format="csv")
    other = make_project(admin, "Elsewhere")
    key = world.cli("admin", "create-key", "--name", "v2", "--role", "viewer", "--project",
                    other).stdout.strip()
    problem(admin.as_(key).get(f"/v1/exports/{e['id']}"), 404)
    problem(admin.as_(key).get(f"/v1/exports/{e['id']}/download"), 404)
    problem(Client(world).get(f"/v1/exports/{e['id']}/download"), 401)
    viewer = world.cli("admin", "create-key", "--name", "v3", "--role", "viewer", "--project",
                       w["pid"]).stdout.strip()
    assert admin.as_(viewer).get(f"/v1/exports/{e['id']}/download").status_code == 200


def test_exports_expire():
    with tempfile.TemporaryDirectory(prefix="formd-expiry-") as d:
        s = Server(os.path.join(d, "data"), ["--export-ttl", "1"]).start()
        try:
            admin = Client(s, s.admin_key)
            pid = make_project(admin)
            f = admin.post(f"/v1/projects/{pid}/forms", {"name": "F", "schema": V1}).json()
            publish(admin, f["id"])
            assert admin.post(f"/v1/public/forms/{f['slug']}/submissions",
                              {"data": {"name": "x"}}).status_code == 201
            s.world = {"admin": admin, "form": f}
            e = export(s, format="jsonl")
            time.sleep(1.5)
            problem(admin.get(f"/v1/exports/{e['id']}/download"), 410)
        finally:
            assert s.stop() == 0, s.read_log()


def test_readyz_fails_while_analytics_lags():
    """With no workers the ETL never runs by itself: /readyz turns 503 past --etl-max-lag."""
    with tempfile.TemporaryDirectory(prefix="formd-lag-") as d:
        s = Server(os.path.join(d, "data"), ["--etl-max-lag", "1", "--workers", "0"]).start()
        try:
            admin = Client(s, s.admin_key)
            pid = make_project(admin)
            f = admin.post(f"/v1/projects/{pid}/forms", {"name": "F", "schema": V1}).json()
            publish(admin, f["id"])
            assert admin.get("/readyz").status_code == 200
            assert admin.post(f"/v1/public/forms/{f['slug']}/submissions",
                              {"data": {"name": "x"}}).status_code == 201
            time.sleep(2.2)
            r = admin.get("/readyz")
            assert r.status_code == 503, r.text
            assert r.json()["checks"]["database"] == "ok"
            assert r.json()["checks"]["analytics"].startswith("lagging"), r.text
            m = admin.get("/metrics").text
            lag = [l for l in m.splitlines() if l.startswith("formd_analytics_etl_lag_seconds ")]
            assert lag and float(lag[0].split()[1]) >= 2, lag
            assert admin.get(f"/v1/forms/{f['id']}/analytics?fresh=true").json()["total"] == 1
            assert admin.get("/readyz").status_code == 200
        finally:
            assert s.stop() == 0, s.read_log()


# ---- the command line ----

@sqlite_only   # a snapshot copy walks SQLite's rowid: refused on PostgreSQL
def test_cli_export_beside_a_running_server(world, tmp_path):
    w = world.world
    out = tmp_path / "out.csv"
    r = world.cli("export", "--form", w["form"]["id"], "--format", "csv", "--out", str(out),
                  "--bom")
    assert "wrote" in r.stderr, r.stderr
    body = out.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body[3:].decode("utf-8"), newline="")))
    assert len(rows) == len(live(world))
    # its private analytics copy is gone, the server's is untouched
    left = [f for f in os.listdir(world.data_dir) if f.startswith("analytics-cli-")]
    assert left == [], left


@pytest.mark.parametrize("args, needle", [
    (["--format", "csv", "--out", "/tmp/x.csv"], "usage"),
    (["--form", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--format", "csv", "--out", "/tmp/x.csv"],
     "no form"),
    (["--form", "F", "--format", "pdf", "--out", "/tmp/x.csv"], "format 'pdf'"),
    (["--form", "F", "--format", "csv", "--out", "/nonexistent-dir/x.csv"], "cannot write"),
])
def test_cli_export_bad_arguments(world, args, needle):
    if PG_URL and needle == "cannot write":
        pytest.skip("beside a server, formd export needs a snapshot copy: SQLite only")
    args = [a.replace("F", world.world["form"]["id"]) if a == "F" else a for a in args]
    r = world.cli("export", *args, check=False)
    assert r.returncode == 1, r
    assert needle in r.stderr and r.stderr.count("\n") == 1, r.stderr
    left = [f for f in os.listdir(os.path.join(world.data_dir, "exports")) if f.startswith("cli-")]
    assert left == [], left


def test_cli_etl_refuses_while_the_server_holds_analytics(world):
    r = world.cli("etl", check=False)
    assert r.returncode == 1 and "in use by another process" in r.stderr, r.stderr


def test_fresh_sync_stops_before_the_request_deadline():
    """A first sync too big for one request copies what it can, answers 503 catching_up
    with Retry-After before --request-timeout, and later requests finish the job."""
    import sqlite3
    n = 200000   # the sync is mostly DuckDB's work, as fast under ASan
    with tempfile.TemporaryDirectory(prefix="formd-catchup-") as d:
        s = Server(os.path.join(d, "data"), ["--request-timeout", "2", "--workers", "0"]).start()
        try:
            admin = Client(s, s.admin_key)
            pid = make_project(admin)
            f = admin.post(f"/v1/projects/{pid}/forms", {"name": "F", "schema": V1}).json()
            publish(admin, f["id"])
            if s.db_url:
                s.sql("INSERT INTO submissions (id, form_id, form_version, data, status,"
                      " created_at, updated_at) SELECT '01CATCHUP' || lpad(i::text, 17, '0'), ?,"
                      " 1, json_build_object('name', 'n' || i, 'age', i % 90)::text, 'new',"
                      " 1790000000000 + i, 1790000000000 + i FROM generate_series(1, ?) i",
                      (f["id"], n))
            else:
                db = sqlite3.connect(os.path.join(s.data_dir, "formd.db"), timeout=30)
                with db:
                    db.execute(
                        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k"
                        " WHERE i < ?) INSERT INTO submissions (id, form_id, form_version, data,"
                        " status, created_at, updated_at) SELECT printf('01CATCHUP%017d', i), ?,"
                        " 1, json_object('name', 'n' || i, 'age', i % 90), 'new',"
                        " 1790000000000 + i, 1790000000000 + i FROM k", (n, f["id"]))
                db.close()
            url = f"/v1/forms/{f['id']}/analytics?fresh=true"
            saw_503 = False
            for _ in range(200):
                r = admin.get(url)
                if r.status_code == 200:
                    break
                problem(r, 503, "catching_up")
                assert r.headers["Retry-After"] == "5", r.headers
                saw_503 = True
            assert r.status_code == 200, r.text
            assert r.json()["total"] == n
            assert saw_503, "the sync should not have fit in one 2 s request"
        finally:
            assert s.stop() == 0, s.read_log()
