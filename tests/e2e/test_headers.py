"""Response headers, held to OWASP's REST Security Cheat Sheet: the exact set
on a JSON answer, a problem, a file download, a 404 and an OPTIONS."""
import time

from conftest import ASAN, Client, Server, make_form, make_project, publish, stop_clean

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
# Set by HTTP itself or by formd for tracing, on every answer.
TRANSPORT = {"date", "x-request-id", "traceparent"}


def names(r):
    return {k.lower() for k in r.headers}


def check(r, *extra):
    got = {k.lower(): v for k, v in r.headers.items()}
    for k, v in SECURITY.items():
        assert got.get(k) == v, (k, r.headers)
    allowed = set(SECURITY) | TRANSPORT | {"connection"} | set(extra)
    assert names(r) - allowed == set(), r.headers
    assert set(SECURITY) | TRANSPORT <= names(r)
    assert "server" not in got and "x-powered-by" not in got
    assert "strict-transport-security" not in got


def test_json_answer(admin):
    r = admin.get("/v1/projects")
    assert r.status_code == 200
    check(r, "content-type", "content-length")
    assert r.headers["Content-Type"] == "application/json"


def test_problem_answer(admin):
    r = admin.post("/v1/projects", {"nope": 1})
    assert r.status_code == 400
    check(r, "content-type", "content-length")
    assert r.headers["Content-Type"] == "application/problem+json"


def test_unauthenticated_problem(anon):
    r = anon.get("/v1/projects")
    assert r.status_code == 401
    check(r, "content-type", "content-length", "www-authenticate")


def test_404(anon):
    r = anon.get("/v1/no/such/thing")
    assert r.status_code == 404
    check(r, "content-type", "content-length")


def test_options(anon):
    r = anon.req("OPTIONS", "/v1/projects")
    assert r.status_code == 204
    check(r, "allow")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "POST"}


def test_file_download(admin, anon):
    form = make_form(admin, make_project(admin, "Headers"))
    publish(admin, form["id"])
    r = anon.post(f"/v1/public/forms/{form['slug']}/submissions",
                  {"data": {"email": "ada@example.org", "age": 36}})
    assert r.status_code == 201
    e = admin.post(f"/v1/forms/{form['id']}/exports", {"format": "csv"}).json()
    deadline = time.time() + (120 if ASAN else 60)
    while e["state"] == "pending" and time.time() < deadline:
        time.sleep(0.1)
        e = admin.get(f"/v1/exports/{e['id']}").json()
    assert e["state"] == "ready", e
    r = admin.get(f"/v1/exports/{e['id']}/download")
    assert r.status_code == 200
    check(r, "content-type", "content-length", "content-disposition")
    assert r.headers["Content-Disposition"].startswith("attachment;")


def test_hsts_is_an_option(tmp_path):
    s = Server(str(tmp_path / "d"), ["--hsts-max-age", "31536000"]).start()
    try:
        r = Client(s).get("/healthz")
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        stop_clean(s)
