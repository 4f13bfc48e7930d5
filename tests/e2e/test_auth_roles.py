"""Authentication (keys, sessions) and authorization (roles, project scope)."""
import re
import uuid

import pytest

from conftest import make_form, make_project, problem, publish

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PASSWORD = "correct horse battery"
VALID = {"email": "ada@example.org", "age": 36}
FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "age", "type": "integer", "min": 18, "max": 130},
]
ROLES = ["viewer", "reviewer", "editor", "admin"]


def new_key(server, role, pid=None, name=None):
    args = ["admin", "create-key", "--name", name or f"{role}-key", "--role", role]
    if pid:
        args += ["--project", pid]
    key = server.cli(*args).stdout.strip()
    assert key.startswith("fmd_"), key
    return key


def new_user(server, role, pid=None, password=PASSWORD):
    email = f"u{uuid.uuid4().hex[:8]}@example.org"
    args = ["admin", "create-user", "--email", email, "--password-file", "-", "--role", role]
    if pid:
        args += ["--project", pid]
    server.cli(*args, input=password + "\n")
    return email


def login(anon, email, password=PASSWORD):
    return anon.post("/v1/auth/login", {"email": email, "password": password})


def submission(admin, anon, form):
    r = anon.post(f"/v1/public/forms/{form['slug']}/submissions", {"data": VALID})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture(scope="module")
def world(server, admin, anon):
    """Projects A and B, each with a published form and a submission."""
    w = {}
    for p in ("a", "b"):
        pid = make_project(admin, f"Project {p.upper()}")
        form = make_form(admin, pid, name=f"Form {p.upper()}", fields=FIELDS)
        publish(admin, form["id"])
        w[p] = {"pid": pid, "form": form, "fid": form["id"], "sid": submission(admin, anon, form)}
    return w


@pytest.fixture(scope="module")
def keys(server, admin, world):
    """A Client per role, each scoped to project A."""
    return {role: admin.as_(new_key(server, role, world["a"]["pid"], name=f"a-{role}"))
            for role in ROLES}


# ---- authentication ----

def test_no_token_is_401_with_www_authenticate(anon, world):
    for path in ("/v1/me", "/v1/projects", f"/v1/projects/{world['a']['pid']}",
                 f"/v1/forms/{world['a']['fid']}", f"/v1/submissions/{world['a']['sid']}"):
        r = anon.get(path)
        problem(r, 401, "unauthorized")
        assert r.headers["WWW-Authenticate"].startswith("Bearer"), r.headers


def test_no_token_on_writes_is_401_and_changes_nothing(admin, anon, world):
    before = admin.get("/v1/projects?limit=200").json()["items"]
    problem(anon.post("/v1/projects", {"name": "Sneaky"}), 401, "unauthorized")
    problem(anon.post(f"/v1/forms/{world['a']['fid']}/publish"), 401, "unauthorized")
    problem(anon.delete(f"/v1/submissions/{world['a']['sid']}"), 401, "unauthorized")
    problem(anon.post(f"/v1/submissions/{world['a']['sid']}/purge"), 401, "unauthorized")
    assert admin.get("/v1/projects?limit=200").json()["items"] == before
    assert admin.get(f"/v1/submissions/{world['a']['sid']}").status_code == 200


@pytest.mark.parametrize("header", [
    "Basic YWRtaW46YWRtaW4=",
    "Bearer",
    "Bearer ",
    "Bearer not-a-token",
    "Bearer fmd_",
    "Bearer fmd_abcdefghij_",
    "Token fmd_abcdefghij_0123456789abcdefghijABCDEFGHIJ01",
    "fmd_abcdefghij_0123456789abcdefghijABCDEFGHIJ01",
    "Bearer fms_short",
], ids=["basic", "bearer-alone", "bearer-empty", "garbage", "key-prefix-only", "key-no-secret",
        "wrong-scheme", "no-scheme", "short-session"])
def test_malformed_authorization_is_401(anon, header):
    r = anon.get("/v1/me", headers={"Authorization": header})
    problem(r, 401, "unauthorized")
    assert "WWW-Authenticate" in r.headers


def test_unknown_key_is_401(server, anon):
    key = new_key(server, "admin")
    # Same shape, different secret; and a prefix nobody has.
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    unknown = "fmd_zzzzzzzzzz_" + "A" * 32
    for token in (forged, unknown):
        r = anon.get("/v1/me", headers={"Authorization": "Bearer " + token})
        problem(r, 401, "unauthorized")
        assert "invalid_token" in r.headers["WWW-Authenticate"]


def test_unknown_session_is_401(anon):
    token = "fms_" + "A" * 43
    problem(anon.get("/v1/me", headers={"Authorization": "Bearer " + token}), 401,
            "unauthorized")


def test_revoked_key_is_401(server, admin, world):
    key = new_key(server, "viewer", world["a"]["pid"])
    c = admin.as_(key)
    assert c.get("/v1/me").status_code == 200
    server.cli("admin", "revoke-key", "--key", key)
    problem(c.get("/v1/me"), 401, "unauthorized")
    problem(c.get(f"/v1/projects/{world['a']['pid']}"), 401, "unauthorized")


def test_bearer_scheme_is_case_insensitive(admin):
    r = admin.get("/v1/me", headers={"Authorization": "bearer " + admin.token})
    assert r.status_code == 200, r.text


# ---- /v1/me ----

def test_me_for_a_global_key(admin):
    r = admin.get("/v1/me")
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["kind"] == "key"
    assert me["grants"] == [{"project_id": None, "role": "admin"}]


@pytest.mark.parametrize("role", ROLES)
def test_me_for_a_scoped_key(keys, world, role):
    me = keys[role].get("/v1/me").json()
    assert me["kind"] == "key"
    assert me["name"] == f"a-{role}"
    assert me["grants"] == [{"project_id": world["a"]["pid"], "role": role}]


# ---- the role matrix on project A ----
#
# Each operation takes (client, admin, anon, world) and returns the response;
# resources it changes are made fresh so the tests stay independent.

def _fresh_sub(admin, anon, world):
    return submission(admin, anon, world["a"]["form"])


def op_get_project(c, admin, anon, w):
    return c.get(f"/v1/projects/{w['a']['pid']}")


def op_list_forms(c, admin, anon, w):
    return c.get(f"/v1/projects/{w['a']['pid']}/forms")


def op_get_form(c, admin, anon, w):
    return c.get(f"/v1/forms/{w['a']['fid']}")


def op_list_subs(c, admin, anon, w):
    return c.get(f"/v1/forms/{w['a']['fid']}/submissions")


def op_get_sub(c, admin, anon, w):
    return c.get(f"/v1/submissions/{w['a']['sid']}")


def op_history(c, admin, anon, w):
    return c.get(f"/v1/submissions/{w['a']['sid']}/history")


def op_create_form(c, admin, anon, w):
    return c.post(f"/v1/projects/{w['a']['pid']}/forms", {"name": "By Role", "fields": FIELDS})


def op_patch_form(c, admin, anon, w):
    f = make_form(admin, w["a"]["pid"])
    return c.patch(f"/v1/forms/{f['id']}", {"name": "Renamed"})


def op_put_draft(c, admin, anon, w):
    f = make_form(admin, w["a"]["pid"])
    return c.put(f"/v1/forms/{f['id']}/draft", {"fields": FIELDS})


def op_publish(c, admin, anon, w):
    f = make_form(admin, w["a"]["pid"])
    return c.post(f"/v1/forms/{f['id']}/publish")


def op_review(c, admin, anon, w):
    return c.patch(f"/v1/submissions/{_fresh_sub(admin, anon, w)}", {"status": "approved"})


def op_edit_data(c, admin, anon, w):
    return c.patch(f"/v1/submissions/{_fresh_sub(admin, anon, w)}",
                   {"data": dict(VALID, age=40)})


def op_delete(c, admin, anon, w):
    return c.delete(f"/v1/submissions/{_fresh_sub(admin, anon, w)}")


def op_restore(c, admin, anon, w):
    sid = _fresh_sub(admin, anon, w)
    assert admin.delete(f"/v1/submissions/{sid}").status_code == 204
    return c.post(f"/v1/submissions/{sid}/restore")


def op_purge(c, admin, anon, w):
    return c.post(f"/v1/submissions/{_fresh_sub(admin, anon, w)}/purge")


def op_create_project(c, admin, anon, w):
    return c.post("/v1/projects", {"name": "Not Global"})


OK, NO = "ok", "forbidden"
#                   viewer reviewer editor admin  expected success status
MATRIX = {
    op_get_project: (OK, OK, OK, OK, 200),
    op_list_forms: (OK, OK, OK, OK, 200),
    op_get_form: (OK, OK, OK, OK, 200),
    op_list_subs: (OK, OK, OK, OK, 200),
    op_get_sub: (OK, OK, OK, OK, 200),
    op_history: (OK, OK, OK, OK, 200),
    op_create_form: (NO, NO, OK, OK, 201),
    op_patch_form: (NO, NO, OK, OK, 200),
    op_put_draft: (NO, NO, OK, OK, 200),
    op_publish: (NO, NO, OK, OK, 200),
    op_review: (NO, OK, OK, OK, 200),
    op_edit_data: (NO, NO, OK, OK, 200),
    op_delete: (NO, OK, OK, OK, 204),
    op_restore: (NO, OK, OK, OK, 200),
    op_purge: (NO, NO, NO, OK, 204),
    op_create_project: (NO, NO, NO, NO, 201),
}
CASES = [(op, role, MATRIX[op][i], MATRIX[op][4])
         for op in MATRIX for i, role in enumerate(ROLES)]


@pytest.mark.parametrize("op,role,expect,status", CASES,
                         ids=[f"{op.__name__[3:]}-{role}" for op, role, _, _ in CASES])
def test_role_matrix(admin, anon, keys, world, op, role, expect, status):
    r = op(keys[role], admin, anon, world)
    if expect == OK:
        assert r.status_code == status, (r.status_code, r.text)
    else:
        problem(r, 403, "forbidden")


def test_forbidden_purge_leaves_the_submission(admin, anon, keys, world):
    sid = _fresh_sub(admin, anon, world)
    for role in ("viewer", "reviewer", "editor"):
        problem(keys[role].post(f"/v1/submissions/{sid}/purge"), 403, "forbidden")
    assert admin.get(f"/v1/submissions/{sid}").status_code == 200


def test_forbidden_edit_leaves_the_data(admin, anon, keys, world):
    sid = _fresh_sub(admin, anon, world)
    problem(keys["reviewer"].patch(f"/v1/submissions/{sid}", {"data": dict(VALID, age=99)}),
            403, "forbidden")
    problem(keys["viewer"].patch(f"/v1/submissions/{sid}", {"status": "rejected"}), 403,
            "forbidden")
    s = admin.get(f"/v1/submissions/{sid}").json()
    assert s["data"] == VALID and s["revision"] == 1 and s["status"] == "new"


def test_forbidden_form_create_stores_nothing(admin, keys, world):
    path = f"/v1/projects/{world['a']['pid']}/forms?limit=200"
    before = len(admin.get(path).json()["items"])
    problem(keys["viewer"].post(f"/v1/projects/{world['a']['pid']}/forms",
                                {"name": "Nope", "fields": FIELDS}), 403, "forbidden")
    assert len(admin.get(path).json()["items"]) == before


# ---- object-level: project B is invisible to keys on A ----

def _b_requests(w):
    b = w["b"]
    return [
        ("GET", f"/v1/projects/{b['pid']}", None),
        ("GET", f"/v1/projects/{b['pid']}/forms", None),
        ("POST", f"/v1/projects/{b['pid']}/forms", {"name": "Intruder", "fields": FIELDS}),
        ("GET", f"/v1/forms/{b['fid']}", None),
        ("PATCH", f"/v1/forms/{b['fid']}", {"name": "Hijacked"}),
        ("PUT", f"/v1/forms/{b['fid']}/draft", {"fields": FIELDS}),
        ("POST", f"/v1/forms/{b['fid']}/publish", None),
        ("GET", f"/v1/forms/{b['fid']}/submissions", None),
        ("GET", f"/v1/submissions/{b['sid']}", None),
        ("GET", f"/v1/submissions/{b['sid']}/history", None),
        ("PATCH", f"/v1/submissions/{b['sid']}", {"status": "rejected"}),
        ("PATCH", f"/v1/submissions/{b['sid']}", {"data": dict(VALID, age=99)}),
        ("DELETE", f"/v1/submissions/{b['sid']}", None),
        ("POST", f"/v1/submissions/{b['sid']}/restore", None),
        ("POST", f"/v1/submissions/{b['sid']}/purge", None),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_other_projects_resources_are_404(admin, keys, world, role):
    b = world["b"]
    form_before = admin.get(f"/v1/forms/{b['fid']}").json()
    sub_before = admin.get(f"/v1/submissions/{b['sid']}").json()
    forms_before = admin.get(f"/v1/projects/{b['pid']}/forms").json()
    for method, path, body in _b_requests(world):
        r = keys[role].req(method, path, body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        problem(r, 404, "not_found")
    assert admin.get(f"/v1/forms/{b['fid']}").json() == form_before
    assert admin.get(f"/v1/submissions/{b['sid']}").json() == sub_before
    assert admin.get(f"/v1/projects/{b['pid']}/forms").json() == forms_before


UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.mark.parametrize("path", [
    "/v1/projects/{pid}",
    "/v1/projects/{pid}/forms",
    "/v1/forms/{fid}",
    "/v1/forms/{fid}/submissions",
    "/v1/submissions/{sid}",
], ids=["project", "forms", "form", "submissions", "submission"])
def test_unknown_and_foreign_ids_answer_alike(keys, world, path):
    """Docs: a resource in a project the caller has no role on is 404, its existence not
    revealed, so it must answer exactly as an id that does not exist."""
    c = keys["admin"]
    b = world["b"]
    foreign = c.get(path.format(pid=b["pid"], fid=b["fid"], sid=b["sid"]))
    unknown = c.get(path.format(pid=UNKNOWN, fid=UNKNOWN, sid=UNKNOWN))
    fp, up = problem(foreign, 404, "not_found"), problem(unknown, 404, "not_found")
    assert fp["detail"] == up["detail"]


@pytest.mark.parametrize("role", ROLES)
def test_project_list_shows_only_the_keys_project(keys, world, role):
    r = keys[role].get("/v1/projects")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["id"] for p in body["items"]] == [world["a"]["pid"]]
    assert body["next_cursor"] is None


def test_global_admin_lists_every_project(admin, world):
    ids = [p["id"] for p in admin.get("/v1/projects?limit=200").json()["items"]]
    assert world["a"]["pid"] in ids and world["b"]["pid"] in ids


def test_global_viewer_reads_everywhere_but_cannot_write(server, admin, world):
    c = admin.as_(new_key(server, "viewer"))
    for p in ("a", "b"):
        assert c.get(f"/v1/forms/{world[p]['fid']}").status_code == 200
    problem(c.post(f"/v1/projects/{world['b']['pid']}/forms", {"name": "x", "fields": FIELDS}),
            403, "forbidden")
    problem(c.post("/v1/projects", {"name": "x"}), 403, "forbidden")


def test_global_admin_key_can_create_projects(server, admin):
    c = admin.as_(new_key(server, "admin"))
    assert c.post("/v1/projects", {"name": "By Second Admin"}).status_code == 201


# ---- users and sessions ----

@pytest.fixture(scope="module")
def global_user(server):
    """A user holding viewer on every project (made without --project)."""
    return new_user(server, "viewer")


@pytest.fixture(scope="module")
def editor_user(server, world):
    """A user holding editor on project A."""
    return new_user(server, "editor", world["a"]["pid"])


def test_cli_create_user_with_a_project(server, world):
    email = f"p{uuid.uuid4().hex[:8]}@example.org"
    r = server.cli("admin", "create-user", "--email", email, "--password-file", "-", "--role",
                   "editor", "--project", world["a"]["pid"], input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr
    assert re.match(r"^[0-9A-HJKMNP-TV-Z]{26}$", r.stdout.strip()), r.stdout


def test_login_gives_a_session_token(anon, global_user):
    r = login(anon, global_user)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "expires_at", "session_id"}
    assert body["token"].startswith("fms_")
    assert body["session_id"] not in body["token"]
    assert TIME_RE.match(body["expires_at"])


def test_wrong_password_and_unknown_email_answer_alike(anon, global_user):
    a = problem(login(anon, global_user, "wrong horse battery"), 401, "unauthorized")
    b = problem(login(anon, "nobody@example.org"), 401, "unauthorized")
    c = problem(login(anon, global_user, ""), 401, "unauthorized")
    assert a["detail"] == b["detail"] == c["detail"]


@pytest.mark.parametrize("body", [
    {"email": "x@example.org", "password": PASSWORD, "remember": True},
    {"email": "x@example.org"},
    {"password": PASSWORD},
    {"email": 5, "password": PASSWORD},
    {"email": "x@example.org", "password": None},
    {},
], ids=["unknown-member", "no-password", "no-email", "number-email", "null-password", "empty"])
def test_bad_login_body_is_400(anon, body):
    problem(anon.post("/v1/auth/login", body), 400, "invalid")


def test_login_with_unknown_member_is_400_even_with_right_password(anon, global_user):
    problem(anon.post("/v1/auth/login", {"email": global_user, "password": PASSWORD,
                                         "otp": "123456"}), 400, "invalid")


def test_global_user_session(admin, anon, world, global_user):
    s = admin.as_(login(anon, global_user).json()["token"])
    me = s.get("/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "session"
    assert me.json()["name"] == global_user
    assert me.json()["grants"] == [{"project_id": None, "role": "viewer"}]
    for p in ("a", "b"):
        assert s.get(f"/v1/forms/{world[p]['fid']}").status_code == 200
    problem(s.post(f"/v1/projects/{world['a']['pid']}/forms", {"name": "x", "fields": FIELDS}),
            403, "forbidden")
    problem(s.patch(f"/v1/submissions/{world['a']['sid']}", {"status": "approved"}), 403,
            "forbidden")


def test_session_works_for_editor_actions_on_its_project(admin, anon, world, editor_user):
    token = login(anon, editor_user).json()["token"]
    s = admin.as_(token)
    me = s.get("/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "session"
    assert me.json()["name"] == editor_user
    assert me.json()["grants"] == [{"project_id": world["a"]["pid"], "role": "editor"}]
    r = s.post(f"/v1/projects/{world['a']['pid']}/forms", {"name": "By Session",
                                                            "fields": FIELDS})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert s.put(f"/v1/forms/{fid}/draft", {"fields": FIELDS}).status_code == 200
    assert s.post(f"/v1/forms/{fid}/publish").status_code == 200
    sid = _fresh_sub(admin, anon, world)
    r = s.patch(f"/v1/submissions/{sid}", {"data": dict(VALID, age=41)})
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 2
    problem(s.post(f"/v1/submissions/{sid}/purge"), 403, "forbidden")
    problem(s.post("/v1/projects", {"name": "x"}), 403, "forbidden")
    problem(s.get(f"/v1/forms/{world['b']['fid']}"), 404, "not_found")
    assert [p["id"] for p in s.get("/v1/projects").json()["items"]] == [world["a"]["pid"]]


def test_viewer_user_session_is_read_only(server, admin, anon, world):
    email = new_user(server, "viewer", world["a"]["pid"])
    s = admin.as_(login(anon, email).json()["token"])
    assert s.get(f"/v1/forms/{world['a']['fid']}").status_code == 200
    problem(s.post(f"/v1/projects/{world['a']['pid']}/forms", {"name": "x", "fields": FIELDS}),
            403, "forbidden")


def test_two_logins_give_two_independent_sessions(admin, anon, global_user):
    t1 = login(anon, global_user).json()["token"]
    t2 = login(anon, global_user).json()["token"]
    assert t1 != t2
    assert admin.as_(t1).post("/v1/auth/logout").status_code == 204
    problem(admin.as_(t1).get("/v1/me"), 401, "unauthorized")
    assert admin.as_(t2).get("/v1/me").status_code == 200


def test_logout_ends_the_session(admin, anon, global_user):
    token = login(anon, global_user).json()["token"]
    s = admin.as_(token)
    assert s.get("/v1/me").status_code == 200
    r = s.post("/v1/auth/logout")
    assert r.status_code == 204, r.text
    assert r.content == b""
    problem(s.get("/v1/me"), 401, "unauthorized")
    problem(s.post("/v1/auth/logout"), 401, "unauthorized")


def test_logout_with_an_api_key_is_400(admin):
    problem(admin.post("/v1/auth/logout"), 400, "invalid")
    assert admin.get("/v1/me").status_code == 200


def test_logout_without_a_token_is_401(anon):
    problem(anon.post("/v1/auth/logout"), 401, "unauthorized")


# ---- CLI errors ----

def _one_line_error(r):
    assert r.returncode != 0, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("formd:"), r.stderr
    assert r.stdout.strip() == "", r.stdout


def test_cli_create_key_with_bad_role(server, world):
    r = server.cli("admin", "create-key", "--name", "x", "--role", "superuser", "--project",
                   world["a"]["pid"], check=False)
    _one_line_error(r)
    assert "superuser" in r.stderr


def test_cli_create_key_for_unknown_project(server):
    r = server.cli("admin", "create-key", "--name", "x", "--role", "viewer", "--project",
                   "01ARZ3NDEKTSV4RRFFQ69G5FAV", check=False)
    _one_line_error(r)


def test_cli_create_key_without_role(server):
    r = server.cli("admin", "create-key", "--name", "x", check=False)
    assert r.returncode != 0
    assert r.stderr.strip()
    assert r.stdout.strip() == ""


@pytest.mark.parametrize("password", ["short", "1234567", ""], ids=["5", "7", "empty"])
def test_cli_create_user_with_short_password(server, anon, password):
    email = f"short{uuid.uuid4().hex[:6]}@example.org"
    r = server.cli("admin", "create-user", "--email", email, "--password-file", "-", "--role",
                   "editor", input=password + "\n", check=False)
    _one_line_error(r)
    assert "password" in r.stderr
    problem(login(anon, email, password), 401, "unauthorized")


def test_cli_create_user_with_8_character_password(server, anon):
    email = new_user(server, "viewer", password="12345678")
    assert login(anon, email, "12345678").status_code == 200


def test_cli_create_user_with_bad_role(server, world):
    r = server.cli("admin", "create-user", "--email", "role@example.org", "--password-file", "-",
                   "--role", "owner", input=PASSWORD + "\n", check=False)
    _one_line_error(r)
    assert "owner" in r.stderr


def test_cli_create_user_twice_fails(server, global_user):
    r = server.cli("admin", "create-user", "--email", global_user, "--password-file", "-",
                   "--role", "viewer", input=PASSWORD + "\n", check=False)
    _one_line_error(r)
