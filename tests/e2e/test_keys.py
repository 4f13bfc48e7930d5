"""API keys: the checksummed format, creation by API and CLI, listing without
secrets, expiry, last use, immediate revocation, project admins' limits."""
import re
import time
import zlib

import pytest

from conftest import make_project, problem

KEY_RE = re.compile(r"^fmd_([a-z0-9]{10})_([A-Za-z0-9]{32})([0-9A-Za-z]{6})$")
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LISTED = {"id", "name", "prefix", "role", "project_id", "created_at", "expires_at",
          "last_used_at", "revoked_at"}


def base62(v):
    out = ""
    for _ in range(6):
        out = B62[v % 62] + out
        v //= 62
    return out


def checksum_ok(key):
    """What a secret scanner does: match the shape, recompute the CRC-32."""
    m = KEY_RE.match(key)
    return bool(m) and base62(zlib.crc32(key[4:-6].encode())) == m.group(3)


def cli_key(server, role, *extra):
    r = server.cli("admin", "create-key", "--name", f"cli-{role}", "--role", role, *extra)
    assert r.stdout.count("\n") == 1, r.stdout     # the key alone on stdout
    return r.stdout.strip()


def create(client, **body):
    body.setdefault("name", "k")
    body.setdefault("role", "viewer")
    return client.post("/v1/keys", body)


@pytest.fixture(scope="module")
def pids(admin):
    return make_project(admin, "Keys A"), make_project(admin, "Keys B")


def test_keys_carry_a_checksum_scanners_can_verify(server, admin):
    assert checksum_ok(server.admin_key)
    key = cli_key(server, "viewer")
    assert checksum_ok(key), key
    r = create(admin, name="api")
    assert r.status_code == 201, r.text
    assert checksum_ok(r.json()["key"])


def test_create_by_api_shows_the_key_once_and_it_works(admin):
    r = create(admin, name="reporting", role="editor")
    assert r.status_code == 201, r.text
    k = r.json()
    assert set(k) == LISTED | {"key"}
    assert k["key"].startswith(f"fmd_{k['prefix']}_")
    assert k["role"] == "editor" and k["project_id"] is None and k["expires_at"] is None
    assert k["last_used_at"] is None and k["revoked_at"] is None
    me = admin.as_(k["key"]).get("/v1/me")
    assert me.status_code == 200 and me.json()["id"] == k["id"]


def test_list_never_shows_a_secret(server, admin):
    made = create(admin, name="listed").json()
    cli = cli_key(server, "reviewer")
    seen, cursor = [], None
    while True:
        r = admin.get("/v1/keys?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.text
        page = r.json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) >= 3
    for item in seen:
        assert set(item) == LISTED, item
    text = admin.get("/v1/keys?limit=200").text
    for secret in (made["key"], cli, server.admin_key, cli[15:47], made["key"][15:47]):
        assert secret not in text
    assert not re.search(r"[0-9a-f]{64}", text)            # no hash either
    assert made["id"] in {i["id"] for i in seen}
    # The CLI lists the same, without secrets.
    out = server.cli("admin", "list-keys").stdout
    assert made["id"] in out and made["prefix"] in out
    assert made["key"] not in out and cli not in out


def test_expiry_is_enforced(server, admin):
    r = create(admin, name="past", expires_at="2020-01-01T00:00:00Z")
    problem(r, 400)
    r = create(admin, name="soon", expires_at="2099-01-01T00:00:00Z")
    assert r.status_code == 201, r.text
    k = r.json()
    assert k["expires_at"] == "2099-01-01T00:00:00.000Z"
    kc = admin.as_(k["key"])
    assert kc.get("/v1/me").status_code == 200
    # Move its expiry into the past, as time would: refused from the next request on.
    server.sql("UPDATE api_keys SET expires_at = ? WHERE id = ?",
               (int(time.time() * 1000) - 1000, k["id"]))
    p = problem(kc.get("/v1/me"), 401)
    assert k["key"] not in p["detail"]


def test_an_expiring_key_cannot_outlive_itself(admin):
    k = create(admin, name="temp-admin", role="admin", expires_at="2090-01-01T00:00:00Z").json()
    temp = admin.as_(k["key"])
    problem(create(temp, name="forever"), 403)
    problem(create(temp, name="later", expires_at="2091-01-01T00:00:00Z"), 403)
    r = create(temp, name="sooner", expires_at="2089-01-01T00:00:00Z")
    assert r.status_code == 201, r.text


def test_cli_expires_in(server, admin):
    key = cli_key(server, "viewer", "--expires-in", "90d")
    prefix = key[4:14]
    item = next(i for i in admin.get("/v1/keys?limit=200").json()["items"]
                if i["prefix"] == prefix)
    assert item["expires_at"] is not None
    left = time.mktime(time.strptime(item["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) \
        - time.mktime(time.gmtime())
    assert 89 * 86400 < left < 91 * 86400, item
    r = server.cli("admin", "create-key", "--name", "x", "--role", "viewer",
                   "--expires-in", "soon", check=False)
    assert r.returncode != 0 and "duration" in r.stderr and r.stdout == ""


def test_last_used_at_appears(admin):
    k = create(admin, name="used").json()
    assert admin.as_(k["key"]).get("/v1/me").status_code == 200
    # Written asynchronously through the writer: wait for it to land.
    deadline, item = time.time() + 30, None
    while time.time() < deadline:
        item = next(i for i in admin.get("/v1/keys?limit=200").json()["items"]
                    if i["id"] == k["id"])
        if item["last_used_at"]:
            break
        time.sleep(0.05)
    assert item["last_used_at"], item


def test_revocation_is_immediate(server, admin):
    k = create(admin, name="short-lived").json()
    kc = admin.as_(k["key"])
    assert kc.get("/v1/me").status_code == 200
    r = admin.delete(f"/v1/keys/{k['id']}")
    assert r.status_code == 204, r.text
    problem(kc.get("/v1/me"), 401)
    item = next(i for i in admin.get("/v1/keys?limit=200").json()["items"]
                if i["id"] == k["id"])
    assert item["revoked_at"]
    assert admin.delete(f"/v1/keys/{k['id']}").status_code == 204     # idempotent
    problem(admin.delete("/v1/keys/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)


def test_checksum_typo_refused_without_lookup(admin):
    key = create(admin, name="typo").json()["key"]
    i = 20
    typo = key[:i] + ("B" if key[i] != "B" else "C") + key[i + 1:]
    assert KEY_RE.match(typo) and not checksum_ok(typo)
    r = admin.as_(typo).get("/v1/me")
    p = problem(r, 401)
    assert "checksum" in p["detail"], p
    assert typo not in r.text and key not in r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_legacy_keys_without_checksum_still_work(server, admin):
    """A key made before the checksum: 47 characters, looked up as before."""
    import hashlib
    legacy = "fmd_legacy0001_" + "A1b2C3d4" * 4
    server.sql("INSERT INTO api_keys (id, prefix, secret_hash, name, role, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               ("01ARZ3NDEKTSV4RRFFQ69G5FAW", "legacy0001",
                hashlib.sha256(legacy.encode()).hexdigest(), "legacy", "viewer",
                int(time.time() * 1000)))
    assert admin.as_(legacy).get("/v1/me").status_code == 200
    problem(admin.as_(legacy[:-1] + "Z").get("/v1/me"), 401)


def test_bad_bodies(admin):
    problem(create(admin, role="root"), 400)
    problem(create(admin, name=""), 400)
    problem(admin.post("/v1/keys", {"name": "x", "role": "viewer", "secret": "mine"}), 400)
    problem(create(admin, expires_at="tomorrow"), 400)
    problem(create(admin, project_id="01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)


def test_project_admin_limits(server, admin, pids):
    a, b = pids
    padmin = admin.as_(cli_key(server, "admin", "--project", a))
    peditor = admin.as_(cli_key(server, "editor", "--project", a))
    # Only for their project, and not for every project.
    r = create(padmin, name="a-viewer", role="viewer", project_id=a)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["project_id"] == a
    assert admin.as_(made["key"]).get(f"/v1/projects/{a}").status_code == 200
    problem(create(padmin, name="global", role="viewer"), 403)
    problem(create(padmin, name="other", role="viewer", project_id=b), 404)
    # Not an admin there: no keys at all.
    problem(create(peditor, name="x", role="viewer", project_id=a), 403)
    # Lists: their project's only.
    r = padmin.get(f"/v1/keys?project_id={a}")
    assert r.status_code == 200
    assert {i["project_id"] for i in r.json()["items"]} == {a}
    problem(padmin.get("/v1/keys"), 403)
    problem(padmin.get(f"/v1/keys?project_id={b}"), 404)
    # Revokes their project's keys, not others'.
    global_key = create(admin, name="g").json()
    problem(padmin.delete(f"/v1/keys/{global_key['id']}"), 404)
    assert padmin.delete(f"/v1/keys/{made['id']}").status_code == 204
    problem(admin.as_(made["key"]).get("/v1/me"), 401)
