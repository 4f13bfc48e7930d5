"""Operations: health, readiness, metrics, the OpenAPI document and the CLI."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import (BIN, Client, Server, free_port, make_form, make_project, problem, publish,
                      sqlite_only)

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def run(*args, input=None, env=None, timeout=60):
    return subprocess.run([BIN, *args], input=input, capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout)


def tables(db_path):
    """Names of the tables, indexes, views and triggers in a SQLite file (sqlite3 CLI)."""
    r = subprocess.run(["sqlite3", db_path,
                        "SELECT type || ' ' || name FROM sqlite_master "
                        "WHERE name NOT LIKE 'sqlite_%' ORDER BY 1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line for line in r.stdout.splitlines() if line]


def parse_metrics(text):
    """[(name, {label: value}, float)] of every sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def samples(parsed, name, **labels):
    return [(l, v) for n, l, v in parsed if n == name and all(l.get(k) == x
                                                              for k, x in labels.items())]


def value(parsed, name, **labels):
    found = samples(parsed, name, **labels)
    assert len(found) == 1, (name, labels, found)
    return found[0][1]


# ---- health and readiness ----

def test_healthz(anon):
    r = anon.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_readyz(anon):
    r = anon.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "analytics": "ok"}}


def test_health_endpoints_need_no_auth_and_ignore_bad_tokens(anon):
    bad = anon.as_("fmd_not_a_real_key")
    assert bad.get("/healthz").status_code == 200
    assert bad.get("/readyz").status_code == 200


# ---- formd health (the container HEALTHCHECK) ----

def test_health_command_ready_and_live(server):
    listen = f"127.0.0.1:{server.port}"
    r = run("health", "--listen", listen, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    # The address from the environment; a wildcard address is asked on loopback.
    r = run("health", "--live", env={"FORMD_LISTEN": f"0.0.0.0:{server.port}"}, timeout=30)
    assert r.returncode == 0, r.stderr


def test_health_command_fails_when_nothing_listens():
    port = free_port()
    started = time.time()
    r = run("health", "--listen", f"127.0.0.1:{port}", "--timeout", "2", timeout=30)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("formd:") and f":{port}/readyz" in lines[0], lines
    assert r.stdout == ""
    assert time.time() - started < 10


def test_health_command_fails_on_a_non_200_answer():
    """A server that answers /readyz with 503 (not ready) and hangs on /healthz."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/healthz":
                time.sleep(3)
            body = b'{"status":"unavailable"}'
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        listen = f"127.0.0.1:{httpd.server_address[1]}"
        r = run("health", "--listen", listen, timeout=30)
        assert r.returncode == 1
        assert len(r.stderr.splitlines()) == 1 and "503" in r.stderr, r.stderr
        # --timeout bounds a server that does not answer.
        started = time.time()
        r = run("health", "--live", "--timeout", "1", "--listen", listen, timeout=30)
        assert r.returncode == 1
        assert len(r.stderr.splitlines()) == 1 and "/healthz" in r.stderr, r.stderr
        assert time.time() - started < 2.9
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("bad", ["0", "x", "301"])
def test_health_command_bad_timeout(bad):
    r = run("health", "--listen", "127.0.0.1:1", "--timeout", bad, timeout=30)
    assert r.returncode != 0
    assert "--timeout" in r.stderr, r.stderr


# ---- metrics ----

@pytest.fixture(scope="module")
def traffic(admin, anon):
    """Some requests of several kinds, so every family has series."""
    for _ in range(3):
        assert anon.get("/healthz").status_code == 200
    assert anon.get("/v1/nope").status_code == 404
    assert anon.get("/v1/me").status_code == 401
    pid = make_project(admin, "Metrics")
    f = make_form(admin, pid, name="Metered", slug="metered")
    publish(admin, f["id"])
    r = anon.post("/v1/public/forms/metered/submissions",
                  {"data": {"email": "m@example.com", "age": 30}})
    assert r.status_code == 201, r.text
    return pid


def test_metrics_content_type(anon, traffic):
    r = anon.get("/metrics")
    assert r.status_code == 200
    ct = r.headers["Content-Type"]
    assert ct.startswith("text/plain"), ct
    assert "version=0.0.4" in ct, ct


def test_metrics_pass_promtool(anon, traffic):
    body = anon.get("/metrics").text
    p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=60)
    output = [l for l in (p.stdout + p.stderr).splitlines() if l.strip()]
    assert p.returncode == 0 and not output, "\n".join(output) + "\n---\n" + body


def test_metrics_families(anon, traffic):
    text = anon.get("/metrics").text
    for family, kind in [("formd_http_requests_total", "counter"),
                         ("formd_http_request_duration_seconds", "histogram"),
                         ("formd_http_requests_in_flight", "gauge"),
                         ("formd_db_commit_batch_size", "histogram"),
                         ("formd_db_query_seconds_total", "counter")]:
        assert f"# TYPE {family} {kind}\n" in text, family
    m = parse_metrics(text)
    # Requests, labelled by route pattern, method and code.
    assert value(m, "formd_http_requests_total", route="/healthz", method="GET", code="200") >= 3
    assert value(m, "formd_http_requests_total", route="/v1/projects", method="POST",
                 code="201") >= 1
    assert value(m, "formd_http_requests_total", route="/v1/public/forms/{}/submissions",
                 method="POST", code="201") >= 1
    assert value(m, "formd_http_requests_total", route="/v1/me", method="GET",
                 code="401") >= 1
    assert any(l.get("code") == "404" for l, _ in samples(m, "formd_http_requests_total"))
    for l, _ in samples(m, "formd_http_requests_total"):
        assert set(l) == {"route", "method", "code"}, l
    # Latency histogram with the documented buckets.
    for le in ("0.2", "0.5", "+Inf"):
        assert samples(m, "formd_http_request_duration_seconds_bucket", route="/healthz",
                       method="GET", le=le), le
    assert value(m, "formd_http_requests_in_flight") >= 1   # this request
    assert samples(m, "formd_db_commit_batch_size_bucket")
    assert value(m, "formd_db_commit_batch_size_count") >= 1
    assert value(m, "formd_db_query_seconds_total") > 0


def test_metrics_process_and_disk(anon, traffic):
    """process_* and the data directory's filesystem: for dashboards and disk alerts
    without a node exporter."""
    text = anon.get("/metrics").text
    for family, kind in [("process_resident_memory_bytes", "gauge"),
                         ("process_virtual_memory_bytes", "gauge"),
                         ("process_open_fds", "gauge"), ("process_max_fds", "gauge"),
                         ("process_cpu_seconds_total", "counter"),
                         ("process_start_time_seconds", "gauge"),
                         ("formd_data_dir_free_bytes", "gauge"),
                         ("formd_data_dir_size_bytes", "gauge")]:
        assert f"# TYPE {family} {kind}\n" in text, family
    m = parse_metrics(text)
    assert value(m, "process_resident_memory_bytes") > 1 << 20
    assert value(m, "process_virtual_memory_bytes") >= value(m, "process_resident_memory_bytes")
    assert 3 <= value(m, "process_open_fds") <= value(m, "process_max_fds")
    assert value(m, "process_cpu_seconds_total") >= 0
    assert abs(value(m, "process_start_time_seconds") - time.time()) < 3600
    assert 0 < value(m, "formd_data_dir_free_bytes") <= value(m, "formd_data_dir_size_bytes")


def test_metrics_histograms_are_cumulative(anon, traffic):
    m = parse_metrics(anon.get("/metrics").text)
    for family in ("formd_http_request_duration_seconds", "formd_db_commit_batch_size"):
        groups = {}
        for l, v in samples(m, family + "_bucket"):
            key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
            groups.setdefault(key, []).append((float(l["le"]), v))
        assert groups, family
        for key, buckets in groups.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), (family, key, buckets)
            assert buckets[-1][0] == float("inf")
            count = value(m, family + "_count", **dict(key))
            assert counts[-1] == count, (family, key)


def test_metrics_counters_advance(anon, traffic):
    before = parse_metrics(anon.get("/metrics").text)
    for _ in range(5):
        assert anon.get("/healthz").status_code == 200
    r = anon.post("/v1/public/forms/metered/submissions",
                  {"data": {"email": "n@example.com", "age": 31}})
    assert r.status_code == 201
    after = parse_metrics(anon.get("/metrics").text)
    key = dict(route="/healthz", method="GET", code="200")
    assert value(after, "formd_http_requests_total", **key) == \
        value(before, "formd_http_requests_total", **key) + 5
    assert value(after, "formd_http_request_duration_seconds_count", route="/healthz",
                 method="GET") == value(before, "formd_http_request_duration_seconds_count",
                                        route="/healthz", method="GET") + 5
    assert value(after, "formd_db_commit_batch_size_count") > \
        value(before, "formd_db_commit_batch_size_count")
    assert value(after, "formd_db_query_seconds_total") >= \
        value(before, "formd_db_query_seconds_total")


# ---- OpenAPI ----

def route_table():
    r = run("routes")
    assert r.returncode == 0, r.stderr
    out = set()
    for line in r.stdout.splitlines():
        method, pattern = line.split(" ")
        out.add((method.lower(), pattern))
    assert out
    return out


def test_openapi_document(anon):
    r = anon.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    doc = json.loads(r.text)
    assert isinstance(doc, dict)
    assert str(doc.get("openapi", "")).startswith("3.1"), doc.get("openapi")
    assert isinstance(doc.get("info"), dict) and doc["info"].get("title")
    assert isinstance(doc.get("paths"), dict)


def test_openapi_paths_match_the_route_table(anon):
    doc = anon.get("/openapi.json").json()
    routes = route_table()
    documented = {}
    for path, item in doc.get("paths", {}).items():
        generic = re.sub(r"\{[^/{}]+\}", "{}", path)
        for method in item:
            if method not in METHODS:
                continue
            key = (method, generic)
            assert key not in documented, f"{method} {path} and {documented[key]} are the same route"
            documented[key] = path
    missing = sorted(f"{m.upper()} {p}" for m, p in routes - set(documented))
    extra = sorted(f"{m.upper()} {documented[(m, p)]}" for m, p in set(documented) - routes)
    assert not missing and not extra, (
        f"routes without an OpenAPI operation: {missing}; "
        f"OpenAPI operations without a route: {extra}")


def test_openapi_path_parameters_are_named_and_declared(anon):
    doc = anon.get("/openapi.json").json()
    for path, item in doc.get("paths", {}).items():
        names = re.findall(r"\{([^/{}]+)\}", path)
        assert "{}" not in path, path
        for method, op in item.items():
            if method not in METHODS:
                continue
            declared = {p.get("name") for p in item.get("parameters", []) + op.get("parameters", [])
                        if isinstance(p, dict) and p.get("in") == "path"}
            refs = [p for p in item.get("parameters", []) + op.get("parameters", [])
                    if isinstance(p, dict) and "$ref" in p]
            if not refs:
                assert set(names) <= declared, (method, path, names, declared)


# ---- CLI ----

def test_version():
    r = run("version")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"formd \d+\.\d+\.\d+\n", r.stdout), r.stdout


def test_routes_lines():
    r = run("routes")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines
    for line in lines:
        assert re.fullmatch(r"(GET|POST|PUT|PATCH|DELETE) /[a-z0-9/{}._-]*", line), line
    assert "GET /healthz" in lines and "POST /v1/public/forms/{}/submissions" in lines


@pytest.fixture
def tmpdir_():
    with tempfile.TemporaryDirectory(prefix="formd-e2e-") as d:
        yield d


def latest(data_dir):
    """N of "version N of N" after migrating a fresh directory up."""
    r = run("migrate", "up", "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"version (\d+) of (\d+)\n", r.stdout)
    assert m and m.group(1) == m.group(2), r.stdout
    return int(m.group(2))


def test_migrate_status(tmpdir_):
    d = os.path.join(tmpdir_, "data")
    r = run("migrate", "status", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"version 0 of (\d+)\n", r.stdout)
    assert m and int(m.group(1)) >= 1, r.stdout
    n = latest(d)
    r = run("migrate", "status", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"version {n} of {n}\n"


def test_migrate_down_to_0_and_up_on_a_fresh_dir(tmpdir_):
    d = os.path.join(tmpdir_, "data")
    n = latest(d)
    full = tables(os.path.join(d, "formd.db"))
    assert "table projects" in full and "table submissions" in full, full
    r = run("migrate", "down", "--to", "0", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"version 0 of {n}\n"
    assert tables(os.path.join(d, "formd.db")) == ["table schema_migrations"]
    r = run("migrate", "up", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"version {n} of {n}\n"
    assert tables(os.path.join(d, "formd.db")) == full
    # Up again is a no-op.
    r = run("migrate", "up", "--data-dir", d)
    assert r.returncode == 0 and r.stdout == f"version {n} of {n}\n"


def test_migrate_to_out_of_range_fails(tmpdir_):
    d = os.path.join(tmpdir_, "data")
    n = latest(d)
    r = run("migrate", "down", "--to", str(n + 1), "--data-dir", d)
    assert r.returncode != 0
    assert "--to" in r.stderr
    assert run("migrate", "status", "--data-dir", d).stdout == f"version {n} of {n}\n"


@sqlite_only   # reads the SQLite file; tests/unit/db/test_postgres.c migrates PostgreSQL
def test_migrate_down_on_a_served_data_dir(tmpdir_):
    d = os.path.join(tmpdir_, "data")
    s = Server(d).start()
    admin = Client(s, s.admin_key)
    pid = make_project(admin, "Doomed")
    f = make_form(admin, pid, name="Doomed", slug="doomed")
    publish(admin, f["id"])
    r = admin.post("/v1/public/forms/doomed/submissions",
                   {"data": {"email": "d@example.com", "age": 40}})
    assert r.status_code == 201
    r = admin.patch(f"/v1/submissions/{r.json()['id']}",
                    {"data": {"email": "e@example.com", "age": 41}})
    assert r.status_code == 200, r.text
    assert s.stop() == 0, s.read_log()[-3000:]

    n = int(re.search(r"of (\d+)", run("migrate", "status", "--data-dir", d).stdout).group(1))
    assert run("migrate", "status", "--data-dir", d).stdout == f"version {n} of {n}\n"
    # Without --to, down reverts one migration (tests/e2e/test_backup.py); all of them:
    r = run("migrate", "down", "--to", "0", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"version 0 of {n}\n"
    assert tables(os.path.join(d, "formd.db")) == ["table schema_migrations"]
    # And it comes back up and serves again (with a new first admin key).
    s2 = Server(d).start()
    try:
        assert Client(s2, s2.admin_key).get("/v1/projects").json()["items"] == []
    finally:
        assert s2.stop() == 0


def test_unknown_command_exits_2():
    r = run("bogus")
    assert r.returncode == 2
    first = r.stderr.splitlines()[0]
    assert first.startswith("formd:") and "bogus" in first, r.stderr
    assert r.stdout == ""


def test_no_command_prints_usage_and_exits_2():
    r = subprocess.run([BIN], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "usage" in r.stderr.lower()


def test_serve_threads_0_is_refused(tmpdir_):
    r = run("serve", "--threads", "0", "--listen", f"127.0.0.1:{free_port()}",
            "--data-dir", os.path.join(tmpdir_, "data"), timeout=30)
    assert r.returncode != 0
    assert "threads" in r.stderr, r.stderr
    assert "listening" not in r.stdout


@pytest.mark.parametrize("option,bad", [("--max-body", "12"), ("--request-timeout", "x"),
                                         ("--log-level", "loud"), ("--bogus-option", "1")])
def test_serve_bad_options_are_refused(tmpdir_, option, bad):
    r = run("serve", option, bad, "--listen", f"127.0.0.1:{free_port()}",
            "--data-dir", os.path.join(tmpdir_, "data"), timeout=30)
    assert r.returncode != 0
    assert option.lstrip("-") in r.stderr, r.stderr


def test_serve_bad_environment_is_refused(tmpdir_):
    r = run("serve", "--listen", f"127.0.0.1:{free_port()}",
            "--data-dir", os.path.join(tmpdir_, "data"),
            env={"FORMD_MAX_BODY": "abc"}, timeout=30)
    assert r.returncode != 0
    assert "FORMD_MAX_BODY" in r.stderr, r.stderr


def wait_healthy(url, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return False


def test_config_file_is_honoured(tmpdir_):
    port = free_port()
    data = os.path.join(tmpdir_, "data")
    conf = os.path.join(tmpdir_, "formd.conf")
    with open(conf, "w") as f:
        f.write("# formd test configuration\n\n"
                f"listen = 127.0.0.1:{port}\n"
                f"data-dir = {data}\n"
                "max-body = 1024\n")
    log = open(os.path.join(tmpdir_, "serve.log"), "wb")
    proc = subprocess.Popen([BIN, "serve", "--config", conf], stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_healthy(url, proc), open(os.path.join(tmpdir_, "serve.log")).read()
        assert os.path.exists(os.path.join(data, "formd.db"))
        with open(os.path.join(data, "admin.key")) as k:
            key = k.read().strip()
        r = requests.post(url + "/v1/projects", data=json.dumps({"name": "x" * 2000}),
                          headers={"Authorization": "Bearer " + key,
                                   "Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 413, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        log.close()
    assert rc == 0


def test_command_line_overrides_config_file(tmpdir_):
    port, other = free_port(), free_port()
    data = os.path.join(tmpdir_, "data")
    conf = os.path.join(tmpdir_, "formd.conf")
    with open(conf, "w") as f:
        f.write(f"listen = 127.0.0.1:{other}\ndata-dir = {data}\n")
    log = open(os.path.join(tmpdir_, "serve.log"), "wb")
    proc = subprocess.Popen([BIN, "serve", f"--config={conf}", "--listen", f"127.0.0.1:{port}"],
                            stdout=log, stderr=log)
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}", proc), \
            open(os.path.join(tmpdir_, "serve.log")).read()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        log.close()
    assert rc == 0


def test_bad_config_file_is_refused(tmpdir_):
    conf = os.path.join(tmpdir_, "bad.conf")
    with open(conf, "w") as f:
        f.write("listen 127.0.0.1:1\n")
    r = run("serve", "--config", conf, "--data-dir", os.path.join(tmpdir_, "data"), timeout=30)
    assert r.returncode != 0
    assert "bad.conf" in r.stderr, r.stderr
    r = run("serve", "--config", os.path.join(tmpdir_, "missing.conf"),
            "--data-dir", os.path.join(tmpdir_, "data"), timeout=30)
    assert r.returncode != 0
    assert "missing.conf" in r.stderr, r.stderr


def test_schema_validate(tmpdir_):
    schema = os.path.join(tmpdir_, "schema.json")
    with open(schema, "w") as f:
        json.dump({"type": "object", "properties": {"age": {"type": "integer", "minimum": 18}},
                   "required": ["age"]}, f)
    r = run("schema", "validate", "--schema", schema, input='{"age": 30}\n{"age": 3}\n')
    assert r.stdout.splitlines() == ["valid", "invalid"], (r.stdout, r.stderr)
    r = run("schema", "validate", "--schema", schema,
            input='{"age": 18}\nnot json\n{}\n{"age": 99}\n')
    assert r.stdout.splitlines() == ["valid", "invalid", "invalid", "valid"], (r.stdout, r.stderr)


def test_schema_validate_usage():
    r = run("schema", "validate")
    assert r.returncode == 2
    assert "usage" in r.stderr


def test_metrics_can_require_an_admin(tmp_path):
    s = Server(str(tmp_path / "data"), ["--metrics-public", "0"]).start()
    try:
        admin = Client(s, s.admin_key)
        problem(Client(s).get("/metrics"), 401, "unauthorized")
        pid = admin.post("/v1/projects", {"name": "m"}).json()["id"]
        viewer = admin.as_(s.cli("admin", "create-key", "--name", "v", "--role", "viewer",
                                 "--project", pid).stdout.strip())
        problem(viewer.get("/metrics"), 403, "forbidden")
        r = admin.get("/metrics")
        assert r.status_code == 200 and "formd_http_requests_total" in r.text
    finally:
        assert s.stop() == 0
