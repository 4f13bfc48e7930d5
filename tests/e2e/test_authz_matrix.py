"""Authorisation matrix (OWASP API1 BOLA, API5 BFLA, API3 mass assignment).

Every route, from `formd routes --json`, is called by every kind of caller
with a request that is otherwise valid, and the answer's class is checked
against the access the route table declares:

  allowed             -> the route's success status
  role too low        -> 403
  another project's   -> 404, word for word the answer for an id that does not exist
  no or invalid token -> 401 with WWW-Authenticate

ROUTES below must have exactly the keys of the route table: a new route cannot
be added without its row (one line: method, pattern, access, object, success
status, and how to make its request). One server serves the whole module;
destructive cells get fresh objects of their own.
"""
import base64
import json
import re
import subprocess
import uuid

import pytest

from conftest import BIN, make_form, make_project, publish

FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "note", "type": "text"},
]
VALID = {"email": "ada@example.org", "note": "hello"}
PASSWORD = "correct horse battery"
ROLES = ["viewer", "reviewer", "editor", "admin"]
RANK = {"viewer": 1, "reviewer": 2, "editor": 3, "admin": 4}
# A one-pixel PNG: valid base64 of an image file, for the OCR route.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082")).decode()


class Row:
    """One route's expectation. ids names the objects of the project acted on.

    param(ids) gives the first path parameter (by default the id of `obj`);
    body(ids) the JSON body (None: none); ok the success status (a tuple when
    the state decides, e.g. a task that has finished)."""

    def __init__(self, access, obj, ok, param=None, body=None, query="", destroys=False):
        self.access, self.obj, self.ok = access, obj, ok if isinstance(ok, tuple) else (ok,)
        self.param, self.body, self.query, self.destroys = param, body, query, destroys

    def request(self, pattern, ids):
        path = pattern
        if "{}" in pattern:
            value = self.param(ids) if self.param else ids[self.obj]
            path = pattern.replace("{}", value, 1)
        query = self.query(ids) if callable(self.query) else self.query
        return path + query, (self.body(ids) if self.body else None)


def fresh_sub(ids):
    return ids["new_sub"]()


def fresh_deleted_sub(ids):
    return ids["new_deleted_sub"]()


def fresh_hook(ids):
    return ids["new_hook"]()


def fresh_key(ids):
    return ids["new_key"]()


def fresh_session(ids):
    return ids["new_session"]()


# (method, pattern): Row(access, object, success status, ...). One line a route.
ROUTES = {
    ("POST", "/v1/auth/login"): Row("public", "none", 200, body=lambda i: {"email": i["email"], "password": PASSWORD}),
    ("POST", "/v1/auth/logout"): Row("any", "none", (204, 400)),   # 400: a key cannot log out
    ("GET", "/v1/me"): Row("any", "none", 200),
    ("POST", "/v1/keys"): Row("admin", "project", 201, body=lambda i: {"name": "matrix", "role": "viewer", "project_id": i["project"]}),
    ("GET", "/v1/keys"): Row("admin", "project", 200, query=lambda i: "?project_id=" + i["project"]),
    ("DELETE", "/v1/keys/{}"): Row("admin", "key", 204, param=fresh_key),
    ("GET", "/v1/sessions"): Row("any", "none", (200, 400)),   # 400: a key has no sessions
    # Own sessions only (or a global admin's): another caller's session is 404 to them;
    # test_sessions.py checks who may end which.
    ("DELETE", "/v1/sessions/{}"): Row("any", "session", (204, 404), param=fresh_session),
    ("POST", "/v1/projects"): Row("global-admin", "none", 201, body=lambda i: {"name": "Matrix"}),
    ("GET", "/v1/projects"): Row("any", "none", 200),
    ("GET", "/v1/projects/{}"): Row("viewer", "project", 200),
    ("POST", "/v1/projects/{}/forms"): Row("editor", "project", 201, body=lambda i: {"name": "M", "fields": FIELDS}),
    ("GET", "/v1/projects/{}/forms"): Row("viewer", "project", 200),
    ("GET", "/v1/forms/{}"): Row("viewer", "form", 200),
    ("PATCH", "/v1/forms/{}"): Row("editor", "form", 200, body=lambda i: {"name": "Renamed"}),
    ("PUT", "/v1/forms/{}/draft"): Row("editor", "form", 200, body=lambda i: {"fields": FIELDS}),
    ("POST", "/v1/forms/{}/publish"): Row("editor", "form", (200, 409)),
    ("GET", "/v1/forms/{}/submissions"): Row("viewer", "form", 200),
    ("GET", "/v1/public/forms/{}"): Row("public", "form", 200, param=lambda i: i["slug"]),
    ("POST", "/v1/public/forms/{}/submissions"): Row("public", "form", 201, param=lambda i: i["slug"], body=lambda i: {"data": VALID}),
    ("GET", "/v1/submissions/{}"): Row("viewer", "submission", 200),
    ("PATCH", "/v1/submissions/{}"): Row("reviewer", "submission", 200, body=lambda i: {"status": "approved"}),
    ("DELETE", "/v1/submissions/{}"): Row("reviewer", "submission", 204, param=fresh_sub, destroys=True),
    ("GET", "/v1/submissions/{}/history"): Row("viewer", "submission", 200),
    ("POST", "/v1/submissions/{}/restore"): Row("reviewer", "submission", 200, param=fresh_deleted_sub, destroys=True),
    ("POST", "/v1/submissions/{}/purge"): Row("admin", "submission", 204, param=fresh_sub, destroys=True),
    ("POST", "/v1/forms/{}/webhooks"): Row("editor", "form", 201, body=lambda i: {"url": "https://hooks.example.org/x", "events": ["submission.purged"]}),
    ("GET", "/v1/forms/{}/webhooks"): Row("viewer", "form", 200),
    ("GET", "/v1/webhooks/{}"): Row("viewer", "webhook", 200),
    ("DELETE", "/v1/webhooks/{}"): Row("editor", "webhook", 204, param=fresh_hook, destroys=True),
    ("GET", "/v1/webhooks/{}/deliveries"): Row("viewer", "webhook", 200),
    ("GET", "/v1/forms/{}/analytics"): Row("viewer", "form", (200, 503)),
    ("POST", "/v1/forms/{}/exports"): Row("viewer", "form", 202, body=lambda i: {"format": "csv"}),
    ("GET", "/v1/exports/{}"): Row("viewer", "export", 200),
    ("GET", "/v1/exports/{}/download"): Row("viewer", "export", (200, 409, 410)),
    ("POST", "/v1/analytics/query"): Row("global-admin", "none", (200, 503), body=lambda i: {"sql": "SELECT 1 AS one"}),
    ("POST", "/v1/forms/{}/ai/extract"): Row("editor", "form", 202, body=lambda i: {"text": "ada@example.org"}),
    ("POST", "/v1/forms/{}/ai/ocr"): Row("editor", "form", 202, body=lambda i: {"image": PNG}),
    ("POST", "/v1/forms/{}/ai/classify"): Row("editor", "form", 409, body=lambda i: {"submission_id": i["submission"]}),
    ("POST", "/v1/forms/{}/ai/summarize"): Row("editor", "form", 202, body=lambda i: {}),
    ("POST", "/v1/ai/generate-form"): Row("editor", "project", 202, body=lambda i: {"description": "a contact form", "project_id": i["project"]}),
    ("POST", "/v1/ai/chat/completions"): Row("editor", "none", 503, body=lambda i: {"messages": [{"role": "user", "content": "hi"}]}),
    ("GET", "/v1/ai/models"): Row("any", "none", 200),
    ("GET", "/v1/tasks"): Row("global-admin", "none", 200),
    ("GET", "/v1/tasks/{}"): Row("viewer", "task", 200),
    ("POST", "/v1/tasks/{}/retry"): Row("editor", "task", (200, 409)),
    ("POST", "/v1/tasks/{}/cancel"): Row("editor", "task", (200, 409)),
    ("GET", "/v1/queues"): Row("global-admin", "none", 200),
    ("POST", "/v1/queues/{}/pause"): Row("global-admin", "queue", 200),
    ("POST", "/v1/queues/{}/resume"): Row("global-admin", "queue", 200),
    ("GET", "/v1/audit"): Row("admin", "none", 200),
    ("GET", "/v1/audit/export"): Row("admin", "none", 200),
    ("GET", "/healthz"): Row("public", "none", 200),
    ("GET", "/readyz"): Row("public", "none", 200),
    ("GET", "/metrics"): Row("public", "none", 200),   # --metrics-public 1, the default
    ("GET", "/openapi.json"): Row("public", "none", 200),
}

# Routes whose project comes from the body, not the path (object "none" in the table).
BODY_PROJECT = {("POST", "/v1/ai/generate-form"), ("POST", "/v1/keys"), ("GET", "/v1/keys")}


def route_table():
    r = subprocess.run([BIN, "routes", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_every_route_has_a_row_and_declares_its_access():
    table = route_table()
    keys = {(r["method"], r["pattern"]) for r in table}
    assert not keys - set(ROUTES), f"routes without a row here: {sorted(keys - set(ROUTES))}"
    assert not set(ROUTES) - keys, f"rows for no route: {sorted(set(ROUTES) - keys)}"
    for r in table:
        row = ROUTES[(r["method"], r["pattern"])]
        assert r["access"] != "unset", r
        expected_obj = "none" if (r["method"], r["pattern"]) in BODY_PROJECT else row.obj
        assert (r["access"], r["object"]) == (row.access, expected_obj), r


def test_openapi_says_which_routes_need_no_token(anon):
    """docs/openapi.json: an operation takes no token (security [] or with {}) iff public."""
    doc = anon.get("/openapi.json").json()
    ops = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and method in ("get", "post", "put", "patch", "delete"):
                ops[(method.upper(), re.sub(r"\{[^/{}]+\}", "{}", path))] = op
    wrong = []
    for key, row in ROUTES.items():
        security = ops[key].get("security", doc.get("security"))
        open_ = security == [] or {} in (security or [])
        if open_ != (row.access == "public"):
            wrong.append(f"{key}: access {row.access}, OpenAPI security {security}")
    assert not wrong, "\n".join(wrong)


# Tables whose row counts must not move on a refused request (tasks: only the ones
# requests enqueue, not the scheduler's).
COUNTS = ["projects", "forms", "form_versions", "submissions", "submission_history",
          "webhooks", "exports", "api_keys", "users", "sessions",
          "tasks WHERE kind LIKE 'ai.%' OR kind = 'analytics.export'"]


def stored(server):
    """Row counts and the forms', submissions' and queues' state: what a refused request
    must leave alone (task states are left out: workers move them). One query (on
    PostgreSQL each is a psql run)."""
    counts = " || ',' || ".join(f"CAST((SELECT count(*) FROM {t}) AS TEXT)" for t in COUNTS)
    return server.sql(
        "SELECT id, name, status, draft_version, published_version, NULL FROM forms "
        "UNION ALL SELECT id, form_id, status, revision, deleted_at, 's' FROM submissions "
        "UNION ALL SELECT name, CAST(paused AS TEXT), NULL, NULL, NULL, 'q' FROM queues "
        f"UNION ALL SELECT '~counts', {counts}, NULL, NULL, NULL, NULL ORDER BY 1")


# ---- the world: projects A and B, each with one of everything ----

def new_key(server, role, pid=None):
    args = ["admin", "create-key", "--name", f"matrix-{role}", "--role", role]
    if pid:
        args += ["--project", pid]
    return server.cli(*args).stdout.strip()


def objects(admin, anon, pid, tag):
    """A project's objects (a published form, a submission, a webhook, an export, a task)."""
    form = make_form(admin, pid, name=f"Form {tag}", fields=FIELDS)
    publish(admin, form["id"])
    ids = {"project": pid, "form": form["id"], "slug": form["slug"], "queue": "default"}

    def new_sub():
        r = anon.post(f"/v1/public/forms/{form['slug']}/submissions", {"data": VALID})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def new_deleted_sub():
        sid = new_sub()
        assert admin.delete(f"/v1/submissions/{sid}").status_code == 204
        return sid

    def new_hook():
        r = admin.post(f"/v1/forms/{form['id']}/webhooks",
                       {"url": "https://hooks.example.org/x", "events": ["submission.purged"]})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def new_key():
        r = admin.post("/v1/keys", {"name": f"matrix {tag}", "role": "viewer", "project_id": pid})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def new_session():
        email = f"s{uuid.uuid4().hex[:8]}@example.org"
        admin.server.cli("admin", "create-user", "--email", email, "--password-file", "-",
                         "--role", "viewer", "--project", pid, input=PASSWORD + "\n")
        r = anon.post("/v1/auth/login", {"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()["session_id"]

    ids.update(new_sub=new_sub, new_deleted_sub=new_deleted_sub, new_hook=new_hook,
               new_key=new_key, new_session=new_session)
    ids["submission"] = new_sub()
    ids["webhook"] = new_hook()
    r = admin.post(f"/v1/forms/{form['id']}/exports", {"format": "csv"})
    assert r.status_code == 202, r.text
    ids["export"] = r.json()["id"]
    r = admin.post(f"/v1/forms/{form['id']}/ai/summarize", {})
    assert r.status_code == 202, r.text
    ids["task"] = r.json()["task_id"]
    return ids


def missing(ids):
    """ids with every object id replaced by one that does not exist."""
    out = dict(ids)
    for k in ("project", "form", "submission", "webhook", "export", "task", "key", "session"):
        out[k] = "0" * 10 + uuid.uuid4().hex[:16].upper()
    made = {"new_sub": "submission", "new_deleted_sub": "submission", "new_hook": "webhook",
            "new_key": "key", "new_session": "session"}
    for k, obj in made.items():
        out[k] = (lambda key: lambda: out[key])(obj)
    return out


@pytest.fixture(scope="module")
def world(server, admin, anon):
    a = make_project(admin, "Matrix A")
    b = make_project(admin, "Matrix B")
    email = f"m{uuid.uuid4().hex[:8]}@example.org"
    server.cli("admin", "create-user", "--email", email, "--password-file", "-", "--role",
               "viewer", "--project", a, input=PASSWORD + "\n")
    callers = {"none": anon, "invalid": admin.as_("fmd_AAAAAAAAAA_" + "B" * 32),
               "invalid-session": admin.as_("fms_" + "C" * 43),
               "global": admin}
    for role in ROLES:
        callers[f"{role}@A"] = admin.as_(new_key(server, role, a))
        callers[f"{role}@B"] = admin.as_(new_key(server, role, b))
    logins = {}
    for caller in SESSION_CALLERS:          # the same checks through login sessions
        role, project = caller[len("session:"):].split("@")
        user = f"m{uuid.uuid4().hex[:8]}@example.org"
        server.cli("admin", "create-user", "--email", user, "--password-file", "-", "--role",
                   role, "--project", a if project == "A" else b, input=PASSWORD + "\n")
        logins[caller] = (lambda u: lambda: admin.as_(login(anon, u)))(user)
        callers[caller] = logins[caller]()
    ids = objects(admin, anon, a, "A")
    ids["email"] = email
    return {"ids": ids, "b": objects(admin, anon, b, "B"), "callers": callers, "logins": logins,
            "server": server}


def login(anon, email):
    r = anon.post("/v1/auth/login", {"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["token"]


SESSION_CALLERS = ["session:reviewer@A", "session:editor@B"]
CALLERS = ["none", "invalid", "invalid-session", "global"] + [f"{r}@A" for r in ROLES] + \
    [f"{r}@B" for r in ROLES] + SESSION_CALLERS


def expected(key, row, caller):
    """'ok', 401, 403 or 404 for caller on project A's objects."""
    if row.access == "public":
        return "ok"
    if caller in ("none", "invalid", "invalid-session"):
        return 401
    if caller == "global" or row.access == "any":
        return "ok"
    if row.access == "global-admin":
        return 403
    role, project = caller.replace("session:", "").split("@")
    if project == "B" and (row.obj != "none" or key in BODY_PROJECT):
        return 404
    return "ok" if RANK[role] >= RANK[row.access] else 403


def send(client, method, path, body):
    return client.req(method, path, body=body) if body is not None else client.req(method, path)


def detail(r):
    assert r.headers.get("Content-Type", "").startswith("application/problem+json"), r.headers
    p = r.json()
    return p["status"], p["title"], p["detail"]


@pytest.mark.parametrize("key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_route_by_caller(world, admin, key):
    method, pattern = key
    row = ROUTES[key]
    failures = []
    for caller in CALLERS:
        client = world["callers"][caller]
        path, body = row.request(pattern, world["ids"])
        state = f"/v1/{row.obj}s/{path.split('/')[3]}" if row.destroys else None
        before = admin.get(state).json() if state else None
        rows = stored(world["server"]) if method != "GET" else None
        r = send(client, method, path, body)
        if key == ("POST", "/v1/auth/logout") and caller in SESSION_CALLERS:
            assert r.status_code == 204, r.text
            world["callers"][caller] = world["logins"][caller]()   # logged out: a new session
        want = expected(key, row, caller)
        got = r.status_code
        if want == "ok":
            if got not in row.ok:
                failures.append(f"{caller}: want {row.ok}, got {got} {r.text[:200]}")
            continue
        if got != want:
            failures.append(f"{caller}: want {want}, got {got} {r.text[:200]}")
            continue
        if want == 401 and not r.headers.get("WWW-Authenticate", "").startswith("Bearer"):
            failures.append(f"{caller}: 401 without WWW-Authenticate: Bearer")
        if want == 404:
            # BOLA: another project's object answers exactly like one that does not exist.
            mpath, mbody = row.request(pattern, missing(world["ids"]))
            m = send(client, method, mpath, mbody)
            if detail(r) != detail(m):
                failures.append(f"{caller}: foreign {detail(r)} but missing {detail(m)}")
        if state and admin.get(state).json() != before:
            failures.append(f"{caller}: refused with {got} but the object changed")
        if rows is not None and stored(world["server"]) != rows:
            failures.append(f"{caller}: refused with {got} but something was stored")
    assert not failures, "\n".join(failures)


OBJECT_ROUTES = sorted(k for k, row in ROUTES.items()
                       if row.obj not in ("none", "queue") and row.access != "public"
                       or k in BODY_PROJECT)


@pytest.mark.parametrize("key", OBJECT_ROUTES, ids=lambda k: f"{k[0]} {k[1]}")
def test_missing_object_is_404_even_for_a_global_admin(world, admin, key):
    """A global role passes every project check: the object must still exist."""
    row = ROUTES[key]
    path, body = row.request(key[1], missing(world["ids"]))
    r = send(admin, key[0], path, body)
    assert r.status_code == 404, r.text
    assert detail(r)[2] == f"no such {row.obj}", detail(r)


# ---- BFLA: a project's admin is not a global admin ----

GLOBAL_ONLY = sorted(k for k, row in ROUTES.items() if row.access == "global-admin")


@pytest.mark.parametrize("key", GLOBAL_ONLY, ids=lambda k: f"{k[0]} {k[1]}")
def test_project_admin_cannot_use_global_functions(world, admin, key):
    row = ROUTES[key]
    path, body = row.request(key[1], world["ids"])
    before = admin.get("/v1/projects?limit=200").json()["items"]
    r = send(world["callers"]["admin@A"], key[0], path, body)
    assert r.status_code == 403, r.text
    assert admin.get("/v1/projects?limit=200").json()["items"] == before


def test_project_admin_lists_only_its_project(world):
    r = world["callers"]["admin@A"].get("/v1/projects")
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["items"]] == [world["ids"]["project"]]


def test_queue_pause_by_project_admin_leaves_queues_running(world, admin):
    assert world["callers"]["admin@A"].post("/v1/queues/default/pause").status_code == 403
    queues = {q["name"]: q for q in admin.get("/v1/queues").json()["items"]}
    assert queues["default"]["paused"] is False, queues


# ---- mass assignment: members a client must not set are refused ----

EXTRA = {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "project_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
         "form_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "status": "approved",
         "created_at": "2020-01-01T00:00:00.000Z", "created_by": "someone", "role": "admin",
         "version": 99, "deleted": True, "secret_hash": "x"}
# Members that are a route's own input, not server-owned fields.
LEGIT = {
    ("POST", "/v1/ai/generate-form"): {"project_id"},
    ("PATCH", "/v1/forms/{}"): {"status"},
    ("PATCH", "/v1/submissions/{}"): {"status"},
    ("POST", "/v1/forms/{}/exports"): {"status", "version"},
    ("POST", "/v1/keys"): {"project_id", "role"},
}
# OpenAI's format: other members (top_p, user, ...) are ignored as other servers do, and a
# completion stores nothing (see src/api/chat.c).
OPEN_BODY = {("POST", "/v1/ai/chat/completions")}
BODY_ROUTES = sorted(k for k, row in ROUTES.items() if row.body and k not in OPEN_BODY)


@pytest.mark.parametrize("key", BODY_ROUTES, ids=lambda k: f"{k[0]} {k[1]}")
def test_server_owned_members_are_refused(world, admin, key):
    row = ROUTES[key]
    failures = []
    for member, value in EXTRA.items():
        if member in LEGIT.get(key, ()):
            continue
        path, body = row.request(key[1], world["ids"])
        body = dict(body, **{member: value})
        r = send(admin, key[0], path, body)
        if r.status_code != 400 or member not in r.json().get("detail", ""):
            failures.append(f"'{member}': {r.status_code} {r.text[:160]}")
    assert not failures, "\n".join(failures)


def test_mass_assignment_stores_nothing(world, admin):
    ids = world["ids"]
    before = admin.get(f"/v1/submissions/{ids['submission']}").json()
    r = admin.patch(f"/v1/submissions/{ids['submission']}",
                    {"status": "approved", "form_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
    assert r.status_code == 400, r.text
    assert admin.get(f"/v1/submissions/{ids['submission']}").json() == before
    n = len(admin.get("/v1/projects?limit=200").json()["items"])
    r = admin.post("/v1/projects", {"name": "X", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
    assert r.status_code == 400, r.text
    assert len(admin.get("/v1/projects?limit=200").json()["items"]) == n


# ---- excessive data exposure: no answer carries a secret ----

SECRET_KEYS = {"secret", "secret_hash", "password", "password_hash", "session_hash", "token_hash"}
GET_ROUTES = sorted(k for k in ROUTES if k[0] == "GET" and k[1] not in ("/metrics",))


def secret_members(v, where=""):
    if isinstance(v, dict):
        out = [f"{where}.{k}" for k in v if k in SECRET_KEYS]
        for k, x in v.items():
            out += secret_members(x, f"{where}.{k}")
        return out
    if isinstance(v, list):
        return [m for i, x in enumerate(v) for m in secret_members(x, f"{where}[{i}]")]
    return ["whsec_ value at " + where] if isinstance(v, str) and v.startswith("whsec_") else []


@pytest.mark.parametrize("key", GET_ROUTES, ids=lambda k: f"{k[0]} {k[1]}")
def test_no_secrets_in_answers(world, admin, key):
    path, _ = ROUTES[key].request(key[1], world["ids"])
    r = admin.get(path)
    if not r.headers.get("Content-Type", "").startswith("application/json") or \
            key[1] == "/openapi.json":
        return      # Prometheus text; the OpenAPI document describes "secret" members
    assert not secret_members(r.json()), secret_members(r.json())


# ---- ids in bodies are checked like ids in paths ----

def test_ids_in_bodies_answer_like_missing_ones(world):
    """An editor of A naming B's objects in a body learns nothing about them."""
    editor = world["callers"]["editor@A"]
    a, b, gone = world["ids"], world["b"], missing(world["ids"])
    pairs = [
        (f"/v1/forms/{a['form']}/ai/classify", {"submission_id": b["submission"]},
         {"submission_id": gone["submission"]}),
        ("/v1/ai/generate-form", {"description": "x", "project_id": b["project"]},
         {"description": "x", "project_id": gone["project"]}),
    ]
    for path, foreign, absent in pairs:
        r, m = editor.post(path, foreign), editor.post(path, absent)
        assert r.status_code == 404, r.text
        assert detail(r) == detail(m), (path, r.text, m.text)
