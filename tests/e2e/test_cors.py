"""CORS: off by default; with --cors-origins, exact origins on /v1/public/ only."""
import pytest

from conftest import Client, Server, make_form, make_project, publish, stop_clean

ORIGIN = "https://forms.example.org"
VALID = {"email": "ada@example.org", "age": 36}


def cors_headers(r):
    return {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def preflight(client, path, origin, method="POST"):
    return client.req("OPTIONS", path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type, idempotency-key"})


@pytest.fixture(scope="module")
def cors(tmp_path_factory):
    """A server with CORS for two origins, and a published form on it."""
    s = Server(str(tmp_path_factory.mktemp("cors") / "d"),
               ["--cors-origins", f"{ORIGIN}, http://localhost:3000"]).start()
    admin = Client(s, s.admin_key)
    form = make_form(admin, make_project(admin))
    publish(admin, form["id"])
    yield s, admin, form
    stop_clean(s)


def test_off_by_default(server, admin, anon):
    pid = make_project(admin, "No CORS")
    form = make_form(admin, pid)
    publish(admin, form["id"])
    path = f"/v1/public/forms/{form['slug']}"
    r = anon.get(path, headers={"Origin": ORIGIN})
    assert r.status_code == 200 and cors_headers(r) == {} and "Vary" not in r.headers
    r = preflight(anon, path + "/submissions", ORIGIN)
    assert cors_headers(r) == {}, r.headers


def test_allowed_origin_on_public_endpoints(cors):
    s, admin, form = cors
    anon = Client(s)
    path = f"/v1/public/forms/{form['slug']}"
    r = anon.get(path, headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert cors_headers(r) == {"access-control-allow-origin": ORIGIN}
    assert r.headers["Vary"] == "Origin"
    r = anon.post(path + "/submissions", {"data": VALID},
                  headers={"Origin": "http://localhost:3000", "Idempotency-Key": "c1"})
    assert r.status_code == 201, r.text
    assert cors_headers(r) == {"access-control-allow-origin": "http://localhost:3000"}
    # Problems too, so that a browser can show them.
    r = anon.post(path + "/submissions", {"data": {"age": 3}}, headers={"Origin": ORIGIN})
    assert r.status_code == 422
    assert cors_headers(r) == {"access-control-allow-origin": ORIGIN}


def test_preflight(cors):
    s, admin, form = cors
    r = preflight(Client(s), f"/v1/public/forms/{form['slug']}/submissions", ORIGIN)
    assert r.status_code == 204, r.text
    assert cors_headers(r) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "Content-Type, Idempotency-Key",
        "access-control-max-age": "600",
    }
    assert r.headers["Vary"] == "Origin"
    assert r.content == b""


@pytest.mark.parametrize("origin", [
    "https://evil.example.org", "https://forms.example.org.evil.org", "http://forms.example.org",
    "https://forms.example.org:443", "null", "*", "HTTPS://FORMS.EXAMPLE.ORG"])
def test_other_origins_get_nothing(cors, origin):
    s, admin, form = cors
    anon = Client(s)
    path = f"/v1/public/forms/{form['slug']}"
    assert cors_headers(anon.get(path, headers={"Origin": origin})) == {}
    r = preflight(anon, path + "/submissions", origin)
    assert cors_headers(r) == {}


def test_management_endpoints_get_no_cors(cors):
    s, admin, form = cors
    for r in (admin.get("/v1/projects", headers={"Origin": ORIGIN}),
              admin.get(f"/v1/forms/{form['id']}", headers={"Origin": ORIGIN}),
              preflight(admin, "/v1/projects", ORIGIN),
              Client(s).get("/healthz", headers={"Origin": ORIGIN})):
        assert cors_headers(r) == {}, (r.request.url, r.headers)
        assert "Vary" not in r.headers


def test_never_star_never_credentials(cors):
    s, admin, form = cors
    r = Client(s).get(f"/v1/public/forms/{form['slug']}", headers={"Origin": ORIGIN})
    assert r.headers["Access-Control-Allow-Origin"] != "*"
    assert "Access-Control-Allow-Credentials" not in r.headers


@pytest.mark.parametrize("bad", ["*", "https://x.org/path", "forms.example.org"])
def test_bad_origins_refused_at_start(tmp_path, bad):
    s = Server(str(tmp_path / "d"), ["--cors-origins", bad])
    with pytest.raises(RuntimeError) as e:
        s.start()
    s.log.close()
    assert "cors-origins" in str(e.value)
