"""Sensitive form fields: encrypted at rest, masked by role, exports, key rotation.

A form marks fields sensitive ("x-sensitive": true, or "sensitive": true in
the fields shorthand). Their values must never reach the database file (nor
its WAL) in clear, while the other fields do; editors and admins read them,
reviewers and viewers see a mask. The key file rotates: a new last line, a
restart, `formd admin rotate-key`, then the old line can go.
"""
import base64
import csv
import io
import json
import os
import tempfile
import time

import pytest
import requests

from conftest import (ASAN, Client, Server, make_project, problem, publish, sqlite_only,
                      stop_clean, wait_task)

SECRET = "SECRET-123456789"
SECRET2 = "SECRET-987654321"
NESTED = "NESTEDSECRET-5551234"
LISTED = "LISTEDSECRET-424242"
PUBLIC = "PUBLIC-246813579"

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "ssn": {"type": "string", "x-sensitive": True},
        "pin": {"type": "integer", "x-sensitive": True},
        "contact": {"type": "object", "properties": {
            "city": {"type": "string"},
            "phone": {"type": "string", "x-sensitive": True}}},
        "aliases": {"type": "array", "items": {"type": "string"}, "x-sensitive": True},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def key_line(kid, seed):
    return f"{kid}:{base64.b64encode(bytes([seed]) * 32).decode()}\n"


def new_key(server, role, pid):
    return server.cli("admin", "create-key", "--name", role, "--role", role,
                      "--project", pid).stdout.strip()


def submit(server, slug, data, key=None):
    h = {"Idempotency-Key": key} if key else {}
    return requests.post(f"{server.url}/v1/public/forms/{slug}/submissions",
                         json={"data": data}, headers=h, timeout=30)


def raw_bytes(server):
    """The SQLite database file and its WAL, as bytes."""
    out = b""
    for name in ("formd.db", "formd.db-wal"):
        p = os.path.join(server.data_dir, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                out += f.read()
    return out


class World:
    pass


def stop(server):
    """stop_clean, and no leak either under ASan."""
    stop_clean(server)
    if ASAN:
        assert "LeakSanitizer" not in server.read_log(), server.read_log()


def write_key_file(path, text, mode="w"):
    """A key file as an operator must keep it: mode 0600 (formd refuses wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC), 0o600)
    with os.fdopen(fd, mode) as f:
        f.write(text)


@pytest.fixture(scope="module")
def world():
    with tempfile.TemporaryDirectory(prefix="formd-e2e-enc-") as d:
        w = World()
        w.dir = d
        w.keyfile = os.path.join(d, "keys")
        write_key_file(w.keyfile, "# formd keys\n" + key_line("k1", 1), "w")
        w.env = {"FORMD_ENCRYPTION_KEY_FILE": w.keyfile}
        w.server = Server(os.path.join(d, "data"), ["--allow-private-targets"], env=w.env).start()
        w.admin = Client(w.server, w.server.admin_key)
        w.pid = make_project(w.admin, "Secrets")
        r = w.admin.post(f"/v1/projects/{w.pid}/forms", {"name": "Intake", "schema": SCHEMA})
        assert r.status_code == 201, r.text
        w.form = r.json()
        publish(w.admin, w.form["id"])
        # A webhook whose deliveries fail (nothing listens): its payloads wait in tasks.
        r = w.admin.post(f"/v1/forms/{w.form['id']}/webhooks",
                         {"url": "http://127.0.0.1:9/hook", "events": ["submission.created",
                                                                      "submission.updated"]})
        assert r.status_code == 201, r.text
        w.roles = {role: w.admin.as_(new_key(w.server, role, w.pid))
                   for role in ("viewer", "reviewer", "editor", "admin")}
        data = {"name": PUBLIC, "ssn": SECRET, "pin": 4321,
                "contact": {"city": "Paris", "phone": NESTED}, "aliases": [LISTED, "x"]}
        r = submit(w.server, w.form["slug"], data, key="first")
        assert r.status_code == 201, r.text
        w.sid = r.json()["id"]
        w.data = data
        yield w
        stop(w.server)


def test_stored_sealed_with_key_id(world):
    (stored,) = world.server.sql("SELECT data FROM submissions WHERE id = ?", (world.sid,))[0]
    doc = json.loads(stored)
    assert doc["name"] == PUBLIC
    for v in (doc["ssn"], doc["pin"], doc["contact"]["phone"], doc["aliases"]):
        assert isinstance(v, str) and v.startswith("enc:v1:k1:"), doc
    assert doc["contact"]["city"] == "Paris"


def test_edits_and_history_are_sealed(world):
    w = world
    r = w.roles["editor"].patch(f"/v1/submissions/{w.sid}",
                                {"data": dict(w.data, ssn=SECRET2)})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["ssn"] == SECRET2
    rows = w.server.sql("SELECT data FROM submissions WHERE id = ? UNION ALL "
                        "SELECT data FROM submission_history WHERE submission_id = ?",
                        (w.sid, w.sid))
    assert len(rows) == 2
    for (text,) in rows:
        assert SECRET not in text and SECRET2 not in text
        assert json.loads(text)["ssn"].startswith("enc:v1:k1:")
    hist = w.roles["admin"].get(f"/v1/submissions/{w.sid}/history").json()["items"]
    assert hist[0]["data"]["ssn"] == SECRET and "masked" not in hist[0]
    hist = w.roles["viewer"].get(f"/v1/submissions/{w.sid}/history").json()["items"]
    assert hist[0]["data"]["ssn"] == "***" and "/ssn" in hist[0]["masked"]
    # Webhook payloads wait in the tasks table: masked there.
    payloads = [p for (p,) in w.server.sql(
        "SELECT payload FROM tasks WHERE kind = 'webhook.deliver'")]
    assert len(payloads) >= 2
    assert all(SECRET not in p and SECRET2 not in p and "enc:v1:" not in p for p in payloads)
    assert all('"ssn":"***"' in p for p in payloads), payloads
    # Put the first value back for the other tests.
    r = w.roles["editor"].patch(f"/v1/submissions/{w.sid}", {"data": w.data})
    assert r.status_code == 200, r.text


@sqlite_only
def test_database_file_never_holds_the_clear_value(world):
    raw = raw_bytes(world.server)
    assert PUBLIC.encode() in raw          # the check can see clear text
    for secret in (SECRET, SECRET2, NESTED, LISTED):
        assert secret.encode() not in raw, secret


@pytest.mark.parametrize("role,clear", [("admin", True), ("editor", True),
                                        ("reviewer", False), ("viewer", False)])
def test_masking_by_role(world, role, clear):
    c = world.roles[role]
    one = c.get(f"/v1/submissions/{world.sid}").json()
    listed = c.get(f"/v1/forms/{world.form['id']}/submissions").json()["items"]
    (item,) = [i for i in listed if i["id"] == world.sid]
    for sub in (one, item):
        if clear:
            assert sub["data"] == world.data
            assert "masked" not in sub
        else:
            assert sub["data"]["name"] == PUBLIC and sub["data"]["contact"]["city"] == "Paris"
            assert sub["data"]["ssn"] == "***" and sub["data"]["pin"] == "***"
            assert sub["data"]["contact"]["phone"] == "***" and sub["data"]["aliases"] == "***"
            assert sorted(sub["masked"]) == ["/aliases", "/contact/phone", "/pin", "/ssn"]


def test_lookalike_strings_are_data(world):
    """A user's "enc:v1:..." is sealed when sensitive and kept as text when not."""
    w = world
    fake = "enc:v1:k1:AAAA"
    r = submit(w.server, w.form["slug"], {"name": fake, "ssn": fake})
    assert r.status_code == 201, r.text
    sub = w.roles["admin"].get(f"/v1/submissions/{r.json()['id']}").json()
    assert sub["data"] == {"name": fake, "ssn": fake}
    (stored,) = w.server.sql("SELECT data FROM submissions WHERE id = ?", (sub["id"],))[0]
    doc = json.loads(stored)
    assert doc["name"] == fake and doc["ssn"] != fake and doc["ssn"].startswith("enc:v1:k1:")


def test_moved_ciphertext_does_not_open(world):
    """A sealed value copied into another row or field is refused (masked), not shown."""
    w = world
    r = submit(w.server, w.form["slug"], {"name": "victim", "ssn": "other"})
    assert r.status_code == 201, r.text
    other = r.json()["id"]
    (src,) = w.server.sql("SELECT data FROM submissions WHERE id = ?", (w.sid,))[0]
    sealed = json.loads(src)["ssn"]
    moved = {"name": "victim", "ssn": sealed, "contact": {"phone": sealed}}
    w.server.sql("UPDATE submissions SET data = ? WHERE id = ?", (json.dumps(moved), other))
    sub = w.roles["admin"].get(f"/v1/submissions/{other}").json()
    assert sub["data"]["ssn"] == "***" and sub["data"]["contact"]["phone"] == "***"
    assert sorted(sub["masked"]) == ["/contact/phone", "/ssn"]
    assert "does not authenticate" in w.server.read_log()
    w.server.sql("DELETE FROM submissions WHERE id = ?", (other,))


def test_idempotent_replay_with_keyed_hash(world):
    w = world
    r = submit(w.server, w.form["slug"], w.data, key="first")
    assert r.status_code == 201 and r.json()["id"] == w.sid
    assert r.headers.get("Idempotent-Replayed") == "true"
    r = submit(w.server, w.form["slug"], dict(w.data, ssn="different"), key="first")
    problem(r, 422)


def test_validation_sees_clear_values(world):
    r = submit(world.server, world.form["slug"], {"name": "x", "pin": "not a number"})
    p = problem(r, 422)
    assert p["errors"][0]["path"] == "/pin"
    assert "not a number" not in json.dumps(p)   # ... and errors do not echo it


@pytest.mark.parametrize("where", [
    {"type": "object", "x-sensitive": True},
    {"type": "object", "properties": {"a": {"type": "array", "items": {"x-sensitive": True}}}},
    {"type": "object", "$defs": {"d": {"x-sensitive": True}}},
    {"type": "object", "properties": {"a": {"x-sensitive": "yes"}}},
])
def test_unsupported_locations_are_refused(world, where):
    r = world.admin.post(f"/v1/projects/{world.pid}/forms", {"name": "Bad", "schema": where})
    p = problem(r, 422)
    assert "x-sensitive" in p["detail"]


def test_fields_shorthand(world):
    w = world
    r = w.admin.post(f"/v1/projects/{w.pid}/forms", {"name": "Short", "fields": [
        {"name": "email", "type": "email"},
        {"name": "iban", "type": "text", "sensitive": True}]})
    assert r.status_code == 201, r.text
    f = r.json()
    publish(w.admin, f["id"])
    r = submit(w.server, f["slug"], {"email": "a@example.org", "iban": "FR76SHORTHAND42"})
    assert r.status_code == 201, r.text
    (stored,) = w.server.sql("SELECT data FROM submissions WHERE id = ?", (r.json()["id"],))[0]
    assert "FR76SHORTHAND42" not in stored and json.loads(stored)["iban"].startswith("enc:v1:")
    r = w.admin.post(f"/v1/projects/{w.pid}/forms", {"name": "Bad", "fields": [
        {"name": "iban", "type": "text", "sensitive": "yes"}]})
    problem(r, 422)


# ---- exports ----

def export(client, form_id, **body):
    r = client.post(f"/v1/forms/{form_id}/exports", body)
    if r.status_code != 202:
        return r
    e = r.json()
    deadline = time.time() + (120 if ASAN else 60)
    while e["state"] == "pending" and time.time() < deadline:
        time.sleep(0.1)
        e = client.get(f"/v1/exports/{e['id']}").json()
    assert e["state"] == "ready", e
    r = client.get(f"/v1/exports/{e['id']}/download")
    assert r.status_code == 200, r.text
    return r


def duck_bytes(server):
    out = b""
    for name in ("analytics.duckdb", "analytics.duckdb.wal"):
        p = os.path.join(server.data_dir, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                out += f.read()
    return out


def rows_of(r):
    return {row["submission_id"]: row
            for row in csv.DictReader(io.StringIO(r.content.decode("utf-8"), newline=""))}


@sqlite_only
def test_export_masks_sensitive_columns(world):
    w = world
    r = export(w.roles["admin"], w.form["id"], format="csv")
    row = rows_of(r)[w.sid]
    assert row["name"] == PUBLIC
    assert row["ssn"] == "***"
    assert SECRET.encode() not in r.content and NESTED.encode() not in r.content
    assert b"enc:v1:" not in r.content
    # Nor does the analytics database (file and WAL) hold them, sealed or clear.
    duck = duck_bytes(w.server)
    assert PUBLIC.encode() in duck
    assert SECRET.encode() not in duck and b"enc:v1:" not in duck


def test_export_include_sensitive_is_admin_only(world):
    w = world
    problem(w.roles["editor"].post(f"/v1/forms/{w.form['id']}/exports",
                                   {"format": "csv", "include_sensitive": True}), 403)
    problem(w.roles["admin"].post(f"/v1/forms/{w.form['id']}/exports",
                                  {"format": "csv", "include_sensitive": "yes"}), 400)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_include_sensitive(world, fmt):
    w = world
    r = export(w.roles["admin"], w.form["id"], format=fmt, include_sensitive=True)
    if fmt == "csv":
        row = rows_of(r)[w.sid]
        assert row["ssn"] == SECRET and row["pin"] == "4321"
        assert json.loads(row["contact"]) == w.data["contact"]
    else:
        rows = {json.loads(l)["submission_id"]: json.loads(l)
                for l in r.content.decode().splitlines()}
        row = rows[w.sid]
        assert row["ssn"] == SECRET and row["pin"] == 4321
        assert row["contact"] == w.data["contact"] and row["aliases"] == w.data["aliases"]
    # The clear values were only in temporary tables.
    if not w.server.db_url:
        assert SECRET.encode() not in duck_bytes(w.server)


# ---- no key ----

def test_no_key_refuses_forms_and_submissions(world):
    w = world
    stop(w.server)
    w.server = Server(w.server.data_dir, ["--allow-private-targets"]).start()
    try:
        assert "no encryption key" in w.server.read_log()
        admin = Client(w.server, w.server.admin_key)
        r = submit(w.server, w.form["slug"], {"name": "n", "ssn": "NOKEY-SECRET-1"})
        p = problem(r, 503)
        assert "FORMD_ENCRYPTION_KEY_FILE" in p["detail"]
        assert not w.server.sql("SELECT id FROM submissions WHERE data LIKE '%NOKEY%'")
        r = admin.post(f"/v1/projects/{w.pid}/forms", {"name": "New", "schema": SCHEMA})
        p = problem(r, 409, "encryption_key_required")
        assert "FORMD_ENCRYPTION_KEY_FILE" in p["detail"]
        # Reading still works: the sensitive values are masked, even for an admin.
        sub = admin.get(f"/v1/submissions/{w.sid}").json()
        assert sub["data"]["ssn"] == "***" and sub["data"]["name"] == PUBLIC
        # Forms without sensitive fields are unaffected.
        r = admin.post(f"/v1/projects/{w.pid}/forms",
                       {"name": "Plain", "fields": [{"name": "a", "type": "text"}]})
        assert r.status_code == 201, r.text
    finally:
        stop(w.server)
        w.server = Server(w.server.data_dir, ["--allow-private-targets"], env=w.env).start()
        w.admin = Client(w.server, w.server.admin_key)
        w.roles = {k: Client(w.server, c.token) for k, c in w.roles.items()}


def test_bad_key_file_stops_the_start(world):
    bad = os.path.join(world.dir, "badkeys")
    write_key_file(bad, "k1:" + base64.b64encode(b"short").decode() + "\n", "w")
    s = Server(os.path.join(world.dir, "other"), env={"FORMD_ENCRYPTION_KEY_FILE": bad})
    with pytest.raises(RuntimeError) as e:
        s.start()
    s.log.close()
    assert "32 bytes" in str(e.value)


# ---- rotation ----

def stored_key_ids(server):
    """The key ids of the sealed values of sensitive fields ("name" is not one: a
    look-alike there is data, left alone by rotation too)."""
    ids = set()
    for (text,) in server.sql("SELECT data FROM submissions UNION ALL "
                              "SELECT data FROM submission_history"):
        def walk(v):
            if isinstance(v, str) and v.startswith("enc:v1:"):
                ids.add(v.split(":")[2])
            elif isinstance(v, dict):
                for k, x in v.items():
                    if k != "name":
                        walk(x)
        walk(json.loads(text))
    return ids


def test_rotation(world):
    w = world
    before = w.roles["admin"].get(f"/v1/forms/{w.form['id']}/submissions").json()["items"]
    assert stored_key_ids(w.server) == {"k1"}
    stop(w.server)
    write_key_file(w.keyfile, key_line("k2", 2), "a")
    w.server = Server(w.server.data_dir, ["--allow-private-targets"], env=w.env).start()
    admin = Client(w.server, w.server.admin_key)
    # New values go under k2 at once; old ones still open.
    r = submit(w.server, w.form["slug"], {"name": "after", "ssn": "ROTATED-NEW-1"})
    assert r.status_code == 201, r.text
    assert stored_key_ids(w.server) == {"k1", "k2"}
    tid = w.server.cli("admin", "rotate-key").stdout.strip()
    t = wait_task(admin, tid)
    assert t["state"] == "completed", t
    assert t["kind"] == "security.rotate_key" and t["result"]["key_id"] == "k2"
    assert t["result"]["values"] >= 5, t
    assert stored_key_ids(w.server) == {"k2"}
    # Run again: nothing left to do.
    t = wait_task(admin, w.server.cli("admin", "rotate-key").stdout.strip())
    assert t["state"] == "completed" and t["result"]["values"] == 0, t
    # Drop k1 and restart: everything still reads back the same.
    stop(w.server)
    write_key_file(w.keyfile, key_line("k2", 2), "w")
    w.server = Server(w.server.data_dir, ["--allow-private-targets"], env=w.env).start()
    admin = Client(w.server, w.server.admin_key)
    after = admin.get(f"/v1/forms/{w.form['id']}/submissions").json()["items"]
    by_id = {s["id"]: s for s in after}
    for s in before:
        assert by_id[s["id"]]["data"] == s["data"]
        assert "masked" not in by_id[s["id"]]
    hist = admin.get(f"/v1/submissions/{w.sid}/history").json()["items"]
    assert hist and all("masked" not in h for h in hist)
    assert hist[0]["data"]["ssn"] == SECRET
