"""Hostile and malformed input: every bad request is a 4xx problem, never a 500,
and stores nothing; SQL metacharacters are plain data."""
import json

import pytest

from conftest import make_form, make_project, problem, publish

JSON = {"Content-Type": "application/json"}
VALID = {"email": "ada@example.org", "age": 36}
FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "age", "type": "integer", "min": 18, "max": 130},
    {"name": "note", "type": "text"},
]
SQL = [
    "x'); DROP TABLE forms;--",
    "Robert'); DROP TABLE submissions; --",
    "' OR '1'='1",
    "\" OR \"\"=\"",
    "1; DELETE FROM projects WHERE 1=1",
    "%' OR 1=1 --",
    "\\'; SELECT * FROM api_keys; --",
    "$1 $2 ?1 :name @p",
]


def nested(depth, leaf="0"):
    """A JSON text of `depth` nested arrays around leaf."""
    return "[" * depth + leaf + "]" * depth


def wide_object(n):
    return "{" + ",".join(f'"k{i}":0' for i in range(n)) + "}"


@pytest.fixture(scope="module")
def pid(admin):
    return make_project(admin, "Bad Input")


@pytest.fixture(scope="module")
def form(admin, pid):
    f = make_form(admin, pid, name="Target", fields=FIELDS)
    publish(admin, f["id"])
    return f


def projects_state(admin):
    r = admin.get("/v1/projects?limit=200")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def submissions_state(admin, fid):
    r = admin.get(f"/v1/forms/{fid}/submissions?limit=200&include_deleted=true")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def form_state(admin, fid):
    r = admin.get(f"/v1/forms/{fid}")
    assert r.status_code == 200, r.text
    return r.json()


def assert_4xx_problem(r, status=None, name=None):
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    return problem(r, status or r.status_code, name)


# Raw bodies bad for any JSON-object endpoint, each answered 400.
def common_bad_bodies(member, value_json):
    """Bodies that are malformed whatever the endpoint; member/value_json make them otherwise
    plausible for that endpoint."""
    good = "{" + f'"{member}":{value_json}' + "}"
    return {
        "truncated": good[:-1].encode(),
        "truncated-string": ("{" + f'"{member}":"abc').encode(),
        "trailing-garbage": (good + " x").encode(),
        "two-documents": (good + good).encode(),
        "single-quotes": ("{" + f"'{member}':'abc'" + "}").encode(),
        "unquoted-key": ("{" + f"{member}:{value_json}" + "}").encode(),
        "trailing-comma": ("{" + f'"{member}":{value_json},' + "}").encode(),
        "comment": ("{/* c */" + f'"{member}":{value_json}' + "}").encode(),
        "nan": ("{" + f'"{member}":{value_json},"n":NaN' + "}").encode(),
        "empty": b"",
        "whitespace": b"  \n ",
        "invalid-utf8": ("{" + f'"{member}":{value_json},"s":"').encode() + b"\xff\"}",
        "overlong-utf8": ("{" + f'"{member}":{value_json},"s":"').encode() + b"\xc0\xaf\"}",
        "utf16-surrogate-bytes": ("{" + f'"{member}":{value_json},"s":"').encode()
        + b"\xed\xa0\x80\"}",
        "lone-surrogate-escape": ("{" + f'"{member}":{value_json},"s":"\\ud800"' + "}").encode(),
        "nul-escape": ("{" + f'"{member}":{value_json},"s":"a\\u0000b"' + "}").encode(),
        "raw-control-char": ("{" + f'"{member}":{value_json},"s":"a\x01b"' + "}").encode(),
        "huge-exponent": ("{" + f'"{member}":{value_json},"n":1e400' + "}").encode(),
        "huge-integer": ("{" + f'"{member}":{value_json},"n":123456789012345678901234567890'
                         + "}").encode(),
        "too-deep": ("{" + f'"{member}":{value_json},"n":{nested(40)}' + "}").encode(),
        "too-many-members": ("{" + f'"{member}":{value_json},"w":{wide_object(10001)}'
                             + "}").encode(),
        "too-many-elements": ("{" + f'"{member}":{value_json},"a":[' + ",".join(["0"] * 10001)
                              + "]}").encode(),
        "duplicate-key": ("{" + f'"{member}":{value_json},"{member}":{value_json}' + "}").encode(),
        "array": ("[" + good + "]").encode(),
        "string": json.dumps(good).encode(),
        "number": b"42",
        "null": b"null",
        "true": b"true",
    }


PROJECT_BODIES = common_bad_bodies("name", '"Good Name"')
PROJECT_BODIES.update({
    "invalid-utf8-in-name": b'{"name":"\xff"}',
    "latin1-name": b'{"name":"caf\xe9"}',
    "name-huge-exponent": b'{"name":1e400}',
    "name-huge-integer": b'{"name":123456789012345678901234567890}',
    "name-deep": ('{"name":' + nested(32, '"x"') + "}").encode(),
    "duplicate-name": b'{"name":"a","name":"b"}',
})


@pytest.mark.parametrize("raw", list(PROJECT_BODIES.values()), ids=list(PROJECT_BODIES))
def test_bad_json_on_create_project(admin, raw):
    before = projects_state(admin)
    problem(admin.post("/v1/projects", raw=raw, headers=JSON), 400, "invalid")
    assert projects_state(admin) == before


@pytest.mark.parametrize("value", [5, 1.5, True, False, None, [], ["x"], {}, {"name": "x"},
                                   -1, 0],
                         ids=["int", "float", "true", "false", "null", "empty-array", "array",
                              "empty-object", "object", "negative", "zero"])
def test_wrong_type_for_project_name(admin, value):
    before = projects_state(admin)
    problem(admin.post("/v1/projects", {"name": value}), 400, "invalid")
    assert projects_state(admin) == before


SUBMIT_BODIES = common_bad_bodies("data", json.dumps(VALID))
SUBMIT_BODIES.update({
    "invalid-utf8-in-value": b'{"data":{"email":"ada@example.org","note":"\xff"}}',
    "invalid-utf8-in-key": b'{"data":{"email":"ada@example.org","\xff":1}}',
    "age-huge-exponent": b'{"data":{"email":"ada@example.org","age":1e400}}',
    "age-huge-integer": b'{"data":{"email":"ada@example.org",'
                        b'"age":123456789012345678901234567890}}',
    "data-33-levels": ('{"data":{"note":' + nested(31) + "}}").encode(),
    "data-too-many-members": ('{"data":' + wide_object(10001) + "}").encode(),
    "duplicate-key-in-data": b'{"data":{"email":"a@example.org","email":"b@example.org"}}',
})


@pytest.mark.parametrize("raw", list(SUBMIT_BODIES.values()), ids=list(SUBMIT_BODIES))
def test_bad_json_on_public_submit(admin, anon, form, raw):
    before = submissions_state(admin, form["id"])
    count = form_state(admin, form["id"])["submission_count"]
    problem(anon.post(f"/v1/public/forms/{form['slug']}/submissions", raw=raw, headers=JSON),
            400, "invalid")
    assert submissions_state(admin, form["id"]) == before
    assert form_state(admin, form["id"])["submission_count"] == count


def test_nesting_of_exactly_32_levels_is_parsed(admin, anon, form):
    """32 levels is within the limit: the body parses and fails validation instead."""
    raw = ('{"data":{"note":' + nested(30) + "}}").encode()
    before = submissions_state(admin, form["id"])
    problem(anon.post(f"/v1/public/forms/{form['slug']}/submissions", raw=raw, headers=JSON),
            422, "validation")
    raw = ('{"data":{"note":' + nested(31) + "}}").encode()
    problem(anon.post(f"/v1/public/forms/{form['slug']}/submissions", raw=raw, headers=JSON),
            400, "invalid")
    assert submissions_state(admin, form["id"]) == before


def test_exactly_10000_members_is_parsed(admin, anon, form):
    """10,000 members is within the limit: the body parses and fails validation instead."""
    before = submissions_state(admin, form["id"])
    # Every member counts: the outer object's one ("data") and data's 9,999.
    raw = ('{"data":' + wide_object(9999) + "}").encode()
    problem(anon.post(f"/v1/public/forms/{form['slug']}/submissions", raw=raw, headers=JSON),
            422, "validation")
    assert submissions_state(admin, form["id"]) == before


@pytest.mark.parametrize("data", [
    {"email": 5}, {"email": None}, {"email": ["a@b.org"]}, {"email": {"a": 1}},
    {"email": True}, {"email": "ada@example.org", "age": "36"},
    {"email": "ada@example.org", "age": 36.5}, {"email": "ada@example.org", "age": None},
    {"email": "ada@example.org", "age": [36]}, {"email": "ada@example.org", "note": 7},
    {"email": "ada@example.org", "note": {"x": "y"}},
], ids=["email-int", "email-null", "email-array", "email-object", "email-bool", "age-string",
        "age-fraction", "age-null", "age-array", "note-int", "note-object"])
def test_wrong_type_for_submission_values(admin, anon, form, data):
    before = submissions_state(admin, form["id"])
    problem(anon.post(f"/v1/public/forms/{form['slug']}/submissions", {"data": data}), 422,
            "validation")
    assert submissions_state(admin, form["id"]) == before


@pytest.mark.parametrize("value", [5, "x", None, [], [VALID], True],
                         ids=["int", "string", "null", "empty-array", "array", "bool"])
def test_wrong_type_for_data(admin, anon, form, value):
    before = submissions_state(admin, form["id"])
    problem(anon.post(f"/v1/public/forms/{form['slug']}/submissions", {"data": value}), 400,
            "invalid")
    assert submissions_state(admin, form["id"]) == before


DRAFT_BODIES = common_bad_bodies("fields", json.dumps(FIELDS))
DRAFT_BODIES.update({
    "invalid-utf8-in-label": ('{"fields":[{"name":"a","type":"text","label":"').encode()
    + b'\xff"}]}',
    "min-huge-exponent": b'{"fields":[{"name":"a","type":"integer","min":1e400}]}',
    "max-huge-integer": b'{"fields":[{"name":"a","type":"integer",'
                        b'"max":123456789012345678901234567890}]}',
    "schema-too-deep": ('{"schema":' + "{\"not\":" * 40 + "{}" + "}" * 40 + "}").encode(),
    "duplicate-key-in-field": b'{"fields":[{"name":"a","name":"b","type":"text"}]}',
})


@pytest.mark.parametrize("raw", list(DRAFT_BODIES.values()), ids=list(DRAFT_BODIES))
def test_bad_json_on_put_draft(admin, pid, raw):
    f = make_form(admin, pid, fields=FIELDS)
    problem(admin.put(f"/v1/forms/{f['id']}/draft", raw=raw, headers=JSON), 400, "invalid")
    assert form_state(admin, f["id"]) == f


@pytest.mark.parametrize("body,status", [
    ({"fields": 5}, 422), ({"fields": "text"}, 422), ({"fields": {}}, 422),
    ({"fields": None}, 422), ({"fields": [5]}, 422), ({"fields": [None]}, 422),
    ({"fields": [{"name": 5, "type": "text"}]}, 422),
    ({"fields": [{"name": "a", "type": 5}]}, 422),
    ({"fields": [{"name": "a", "type": "text", "required": "yes"}]}, 422),
    ({"fields": [{"name": "a", "type": "text", "label": 5}]}, 422),
    ({"fields": [{"name": "a", "type": "text", "max_length": "10"}]}, 422),
    ({"fields": [{"name": "a", "type": "text", "pattern": 5}]}, 422),
    ({"fields": [{"name": "a", "type": "integer", "min": "1"}]}, 422),
    ({"fields": [{"name": "a", "type": "select", "options": "a,b"}]}, 422),
    ({"fields": [{"name": "a", "type": "select", "options": [None]}]}, 422),
    ({"fields": [{"name": "a", "type": "text", "visible_if": "b"}]}, 422),
    ({"schema": 5}, 422), ({"schema": "object"}, 422), ({"schema": []}, 422),
    ({"schema": None}, 422), ({"schema": {"type": 5}}, 422),
    ({"schema": {"properties": []}}, 422), ({"schema": {"required": "a"}}, 422),
    ({"schema": {"minimum": "1"}}, 422), ({"schema": {"pattern": 5}}, 422),
    ({"fields": FIELDS, "ui": 5}, 400), ({"fields": FIELDS, "ui": "x"}, 400),
    ({"fields": FIELDS, "ui": []}, 400), ({"fields": FIELDS, "settings": 5}, 400),
    ({"fields": FIELDS, "settings": []}, 400),
    ({"fields": FIELDS, "settings": {"submission_limit": "2"}}, 400),
    ({"fields": FIELDS, "settings": {"submission_limit": 1.5}}, 400),
    ({"fields": FIELDS, "settings": {"submission_limit": True}}, 400),
    ({"fields": FIELDS, "settings": {"submission_limit": -1}}, 400),
])
def test_wrong_types_on_put_draft(admin, pid, body, status):
    f = make_form(admin, pid, fields=FIELDS)
    r = admin.put(f"/v1/forms/{f['id']}/draft", body)
    assert_4xx_problem(r, status)
    assert form_state(admin, f["id"]) == f


# ---- SQL metacharacters are data ----

@pytest.mark.parametrize("text", SQL)
def test_sql_in_project_and_form_names_is_stored_verbatim(admin, anon, text):
    r = admin.post("/v1/projects", {"name": text})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["name"] == text
    assert admin.get(f"/v1/projects/{p['id']}").json()["name"] == text
    f = make_form(admin, p["id"], name=text, fields=FIELDS)
    assert f["name"] == text
    assert f["slug"] and all(c.islower() or c.isdigit() or c == "-" for c in f["slug"])
    assert form_state(admin, f["id"])["name"] == text
    r = admin.patch(f"/v1/forms/{f['id']}", {"name": text + " (2)"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == text + " (2)"
    publish(admin, f["id"])
    pub = anon.get(f"/v1/public/forms/{f['slug']}")
    assert pub.status_code == 200, pub.text
    assert pub.json()["name"] == text + " (2)"
    listed = admin.get(f"/v1/projects/{p['id']}/forms").json()["items"]
    assert [x["id"] for x in listed] == [f["id"]]


@pytest.mark.parametrize("text", SQL)
def test_sql_in_submission_values_is_stored_verbatim(admin, anon, form, text):
    data = {"email": "ada@example.org", "note": text}
    r = anon.post(f"/v1/public/forms/{form['slug']}/submissions", {"data": data},
                  headers={"Idempotency-Key": "k-" + str(SQL.index(text)) + "-'--"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert admin.get(f"/v1/submissions/{sid}").json()["data"] == data
    r = admin.patch(f"/v1/submissions/{sid}", {"note": text, "status": "rejected"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    assert r.json()["data"] == data
    edited = dict(data, note=text[::-1])
    r = admin.patch(f"/v1/submissions/{sid}", {"data": edited})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == edited
    hist = admin.get(f"/v1/submissions/{sid}/history").json()["items"]
    assert hist[0]["data"] == data


def test_sql_in_slug_is_refused(admin, pid):
    for slug in ["x'--", "a' or '1'='1", "a;drop", "a%27"]:
        problem(admin.post(f"/v1/projects/{pid}/forms",
                           {"name": "S", "slug": slug, "fields": FIELDS}), 400, "invalid")


def test_sql_looking_but_valid_slug_is_verbatim(admin, anon, pid):
    slug = "drop-table-forms--"
    f = make_form(admin, pid, slug=slug, fields=FIELDS)
    assert f["slug"] == slug
    publish(admin, f["id"])
    assert anon.get(f"/v1/public/forms/{slug}").json()["slug"] == slug


@pytest.mark.parametrize("path", [
    "/v1/public/forms/x'%20OR%20'1'='1",
    "/v1/public/forms/%27%3B%20DROP%20TABLE%20forms%3B--",
    "/v1/public/forms/%25",
    "/v1/public/forms/" + "a" * 500,
])
def test_sql_in_public_slug_path_is_404(anon, path):
    problem(anon.get(path), 404, "not_found")
    problem(anon.post(path + "/submissions", {"data": VALID}), 404, "not_found")


@pytest.mark.parametrize("path", [
    "/v1/projects/x'%20OR%20'1'='1",
    "/v1/forms/'%20OR%201=1--",
    "/v1/submissions/1%20OR%201=1",
    "/v1/forms/%27/submissions",
])
def test_sql_in_id_paths_is_404(admin, path):
    problem(admin.get(path), 404, "not_found")


@pytest.mark.parametrize("q", [
    "status=approved'%20OR%20'1'='1",
    "created_after=2026-01-01T00:00:00Z'%20OR%201=1",
    "cursor='%20OR%20'1'='1",
    "include_deleted=true'--",
])
def test_sql_in_submission_filters_is_400(admin, form, q):
    problem(admin.get(f"/v1/forms/{form['id']}/submissions?{q}"), 400, "invalid")


@pytest.mark.parametrize("q", ["cursor='%20OR%20'1'='1", "cursor=%00", "cursor=" + "Z" * 300])
def test_garbage_cursor_on_project_and_form_lists_is_not_a_500(admin, pid, q):
    for path in ("/v1/projects", f"/v1/projects/{pid}/forms"):
        r = admin.get(f"{path}?{q}")
        assert r.status_code in (200, 400), (path, r.status_code, r.text)


def test_sql_in_login_is_401(anon):
    for email in SQL:
        problem(anon.post("/v1/auth/login", {"email": email, "password": email}), 401,
                "unauthorized")
    problem(anon.post("/v1/auth/login", {"email": "' OR 1=1 --", "password": "' OR 1=1 --"}),
            401, "unauthorized")


def test_lists_still_work_after_everything(admin, pid, form):
    """Runs last in this module: the tables the SQL above names are all still there."""
    projects = projects_state(admin)
    assert pid in [p["id"] for p in projects]
    for p in projects:
        r = admin.get(f"/v1/projects/{p['id']}/forms?limit=200")
        assert r.status_code == 200, r.text
        for f in r.json()["items"]:
            assert admin.get(f"/v1/forms/{f['id']}/submissions").status_code == 200
    r = admin.get(f"/v1/projects/{pid}/forms?limit=200")
    assert form["id"] in [f["id"] for f in r.json()["items"]]
    for s in submissions_state(admin, form["id"]):
        assert s["data"]["note"] in SQL or s["data"]["note"][::-1] in SQL
        assert admin.get(f"/v1/submissions/{s['id']}").status_code == 200


# ---- media type, unknown paths, methods ----

def test_wrong_content_type_is_415(admin):
    before = projects_state(admin)
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx",
               "multipart/form-data; boundary=x"):
        r = admin.post("/v1/projects", raw=b'{"name":"Typed"}', headers={"Content-Type": ct})
        problem(r, 415, "unsupported_media_type")
    r = admin.post("/v1/projects", raw=b'{"name":"Typed"}')
    problem(r, 415, "unsupported_media_type")
    assert projects_state(admin) == before


def test_wrong_content_type_on_public_submit_is_415(admin, anon, form):
    before = submissions_state(admin, form["id"])
    r = anon.post(f"/v1/public/forms/{form['slug']}/submissions",
                  raw=json.dumps({"data": VALID}).encode(), headers={"Content-Type": "text/plain"})
    problem(r, 415, "unsupported_media_type")
    assert submissions_state(admin, form["id"]) == before


def test_json_content_type_with_parameters_is_accepted(admin):
    for ct in ("application/json; charset=utf-8", "Application/JSON", "application/json;"):
        r = admin.post("/v1/projects", raw=b'{"name":"Charset"}', headers={"Content-Type": ct})
        assert r.status_code == 201, (ct, r.text)


@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/nope"), ("GET", "/"), ("GET", "/v2/projects"), ("POST", "/v1/projects/x/y/z"),
    ("GET", "/v1/forms"), ("GET", "/v1/projects/"), ("GET", "/v1/submissions"),
    ("DELETE", "/nothing/here"),
])
def test_unknown_path_is_404_problem(admin, method, path):
    problem(admin.req(method, path), 404, "not_found")


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/v1/projects", {"GET", "POST"}),
    ("PUT", "/v1/projects", {"GET", "POST"}),
    ("DELETE", "/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"GET", "PATCH"}),
    ("GET", "/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV/publish", {"POST"}),
    ("GET", "/v1/auth/login", {"POST"}),
    ("PATCH", "/healthz", {"GET"}),
    ("PUT", "/v1/submissions/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"GET", "PATCH", "DELETE"}),
])
def test_wrong_method_is_405_with_allow(admin, method, path, allowed):
    r = admin.req(method, path)
    problem(r, 405, "method_not_allowed")
    got = {m.strip() for m in r.headers["Allow"].split(",")}
    assert got == allowed, r.headers["Allow"]


def test_wrong_method_does_not_touch_data(admin):
    before = projects_state(admin)
    r = admin.req("DELETE", "/v1/projects", headers=JSON, raw=b'{"name":"x"}')
    assert r.status_code == 405
    assert projects_state(admin) == before
