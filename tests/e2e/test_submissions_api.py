"""Public submissions and their review: validation, idempotency, limits, list,
edit with history, soft delete, restore and purge (docs/api.md)."""
import json
import re
import uuid

import pytest

from conftest import make_form, make_project, problem, publish

ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
JSON = {"Content-Type": "application/json"}


def new_key(server, role, pid, name=None):
    name = name or f"{role}-{uuid.uuid4().hex[:6]}"
    r = server.cli("admin", "create-key", "--name", name, "--role", role, "--project", pid)
    return r.stdout.strip(), name


def submit(client, slug, data, key=None):
    headers = {"Idempotency-Key": key} if key is not None else None
    return client.post(f"/v1/public/forms/{slug}/submissions", {"data": data}, headers=headers)


def submit_ok(client, slug, data):
    r = submit(client, slug, data)
    assert r.status_code == 201, r.text
    return r.json()


def published_form(admin, pid, **definition):
    f = make_form(admin, pid, **definition)
    publish(admin, f["id"])
    return f


def list_subs(admin, fid, query=""):
    r = admin.get(f"/v1/forms/{fid}/submissions?limit=200{query}")
    assert r.status_code == 200, r.text
    return r.json()["items"]


@pytest.fixture(scope="module")
def pid(admin):
    return make_project(admin, "Submissions")


@pytest.fixture(scope="module")
def intake(admin, pid):
    """email (required, email), age (integer 18..130); published."""
    return published_form(admin, pid, name="Intake")


@pytest.fixture(scope="module")
def editor(server, admin, pid):
    key, name = new_key(server, "editor", pid)
    return admin.as_(key), name


@pytest.fixture(scope="module")
def reviewer(server, admin, pid):
    key, name = new_key(server, "reviewer", pid)
    return admin.as_(key), name


VALID = {"email": "ada@example.org", "age": 36}


# ---- submit ----

def test_valid_submission_is_201(admin, anon, intake):
    r = submit(anon, intake["slug"], VALID)
    assert r.status_code == 201, r.text
    s = r.json()
    assert set(s) == {"id", "form_id", "form_version", "created_at"}
    assert ID_RE.match(s["id"])
    assert s["form_id"] == intake["id"]
    assert s["form_version"] == 1
    assert TIME_RE.match(s["created_at"])
    assert r.headers["Location"] == f"/v1/submissions/{s['id']}"
    g = admin.get(r.headers["Location"])
    assert g.status_code == 200, g.text
    sub = g.json()
    assert sub["id"] == s["id"]
    assert sub["data"] == VALID
    assert sub["status"] == "new"
    assert sub["revision"] == 1
    assert sub["reviewed_by"] is None and sub["reviewed_at"] is None
    assert sub["deleted_at"] is None
    assert sub["created_at"] == s["created_at"]
    assert sub["form_version"] == 1


def test_submission_counts_on_the_form(admin, anon, pid):
    f = published_form(admin, pid)
    submit_ok(anon, f["slug"], VALID)
    submit_ok(anon, f["slug"], VALID)
    assert admin.get(f"/v1/forms/{f['id']}").json()["submission_count"] == 2


def test_invalid_submission_lists_every_error(admin, anon, intake):
    before = len(list_subs(admin, intake["id"]))
    p = problem(submit(anon, intake["slug"], {"age": 5}), 422, "validation")
    errors = p["errors"]
    assert len(errors) == 2, errors
    for e in errors:
        assert isinstance(e["path"], str)
        assert e["path"] == "" or e["path"].startswith("/")
        assert e["keyword"] and e["message"]
    by_kw = {e["keyword"]: e for e in errors}
    assert set(by_kw) == {"required", "minimum"}
    assert by_kw["minimum"]["path"] == "/age"
    assert "email" in by_kw["required"]["message"]
    assert len(list_subs(admin, intake["id"])) == before


def test_wrong_types_give_one_error_per_field(anon, intake):
    p = problem(submit(anon, intake["slug"], {"email": 5, "age": "old"}), 422, "validation")
    paths = sorted(e["path"] for e in p["errors"])
    assert paths == ["/age", "/email"], p["errors"]


def test_unknown_field_is_422(anon, intake):
    p = problem(submit(anon, intake["slug"], dict(VALID, nickname="x")), 422, "validation")
    assert any(e["keyword"] == "additionalProperties" for e in p["errors"]), p["errors"]


@pytest.mark.parametrize("body", [
    {},
    {"data": None},
    {"data": [VALID]},
    {"data": "email=a@b.org"},
    {"data": 5},
    {"data": True},
    {"data": VALID, "extra": 1},
], ids=["missing", "null", "array", "string", "number", "bool", "unknown-member"])
def test_data_missing_or_not_an_object_is_400(admin, anon, intake, body):
    before = len(list_subs(admin, intake["id"]))
    problem(anon.post(f"/v1/public/forms/{intake['slug']}/submissions", body), 400, "invalid")
    assert len(list_subs(admin, intake["id"])) == before


@pytest.mark.parametrize("raw", [b"data=1", b'{"data": {', b"", b"[]", b'"data"'],
                         ids=["form-encoded", "truncated", "empty", "array", "string"])
def test_body_not_a_json_object_is_400(admin, anon, intake, raw):
    before = len(list_subs(admin, intake["id"]))
    problem(anon.post(f"/v1/public/forms/{intake['slug']}/submissions", raw=raw, headers=JSON),
            400, "invalid")
    assert len(list_subs(admin, intake["id"])) == before


def test_submit_to_unknown_slug_is_404(anon):
    problem(submit(anon, "no-such-slug-at-all", VALID), 404, "not_found")


def test_submit_to_never_published_form_is_404(admin, anon, pid):
    f = make_form(admin, pid)
    problem(submit(anon, f["slug"], VALID), 404, "not_found")
    assert admin.get(f"/v1/forms/{f['id']}").json()["submission_count"] == 0


def test_submission_validates_against_the_published_version(admin, anon, pid):
    f = published_form(admin, pid)
    r = admin.put(f"/v1/forms/{f['id']}/draft", {"fields": [{"name": "nick", "type": "text"}]})
    assert r.status_code == 200, r.text
    assert submit(anon, f["slug"], {"nick": "x"}).status_code == 422
    assert submit_ok(anon, f["slug"], VALID)["form_version"] == 1
    publish(admin, f["id"])
    assert submit_ok(anon, f["slug"], {"nick": "x"})["form_version"] == 2
    problem(submit(anon, f["slug"], VALID), 422, "validation")


# ---- idempotency ----

def test_same_key_same_body_replays_the_first_answer(admin, anon, pid):
    f = published_form(admin, pid)
    path = f"/v1/public/forms/{f['slug']}/submissions"
    body = json.dumps({"data": VALID}).encode()
    h = dict(JSON, **{"Idempotency-Key": "order-42"})
    r1 = anon.post(path, raw=body, headers=h)
    assert r1.status_code == 201, r1.text
    assert "Idempotent-Replayed" not in r1.headers
    count = len(list_subs(admin, f["id"]))
    assert count == 1
    r2 = anon.post(path, raw=body, headers=h)
    assert r2.status_code == 201, r2.text
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert r2.json() == r1.json()
    assert len(list_subs(admin, f["id"])) == count
    assert admin.get(f"/v1/forms/{f['id']}").json()["submission_count"] == 1


def test_same_key_different_body_is_422(admin, anon, pid):
    f = published_form(admin, pid)
    assert submit(anon, f["slug"], VALID, key="k-1").status_code == 201
    p = problem(submit(anon, f["slug"], dict(VALID, age=40), key="k-1"), 422,
                "idempotency_mismatch")
    assert p["detail"]
    assert len(list_subs(admin, f["id"])) == 1


def test_keys_are_per_form(admin, anon, pid):
    a = published_form(admin, pid)
    b = published_form(admin, pid)
    ra = submit(anon, a["slug"], VALID, key="shared")
    rb = submit(anon, b["slug"], VALID, key="shared")
    assert ra.status_code == 201 and rb.status_code == 201
    assert "Idempotent-Replayed" not in rb.headers
    assert ra.json()["id"] != rb.json()["id"]


def test_different_keys_store_twice(admin, anon, pid):
    f = published_form(admin, pid)
    r1 = submit(anon, f["slug"], VALID, key="a")
    r2 = submit(anon, f["slug"], VALID, key="b")
    assert r1.status_code == r2.status_code == 201
    assert r1.json()["id"] != r2.json()["id"]
    assert len(list_subs(admin, f["id"])) == 2


def test_key_of_255_printable_characters_is_accepted(admin, anon, pid):
    f = published_form(admin, pid)
    key = ("!~" + "k" * 255)[:255]
    assert submit(anon, f["slug"], VALID, key=key).status_code == 201
    r = submit(anon, f["slug"], VALID, key=key)
    assert r.status_code == 201 and r.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize("key", ["", "k" * 256, "has space", "caf\u00e9", "tab\there"],
                         ids=["empty", "256-chars", "space", "non-ascii", "tab"])
def test_invalid_idempotency_key_is_400(admin, anon, intake, key):
    before = len(list_subs(admin, intake["id"]))
    problem(submit(anon, intake["slug"], VALID, key=key), 400, "invalid")
    assert len(list_subs(admin, intake["id"])) == before


# ---- closed forms and limits ----

def test_closed_form_is_409_form_closed(admin, anon, pid):
    f = published_form(admin, pid)
    assert admin.patch(f"/v1/forms/{f['id']}", {"status": "closed"}).status_code == 200
    problem(submit(anon, f["slug"], VALID), 409, "form_closed")
    problem(submit(anon, f["slug"], VALID, key="closed-1"), 409, "form_closed")
    assert list_subs(admin, f["id"]) == []
    assert admin.patch(f"/v1/forms/{f['id']}", {"status": "open"}).status_code == 200
    submit_ok(anon, f["slug"], VALID)


def test_submission_limit_is_enforced_and_survives_reopening(admin, anon, pid):
    f = published_form(admin, pid, settings={"submission_limit": 2})
    submit_ok(anon, f["slug"], VALID)
    submit_ok(anon, f["slug"], VALID)
    problem(submit(anon, f["slug"], VALID), 409, "limit_reached")
    problem(submit(anon, f["slug"], VALID, key="over-the-limit"), 409, "limit_reached")
    assert len(list_subs(admin, f["id"])) == 2
    assert admin.patch(f"/v1/forms/{f['id']}", {"status": "closed"}).status_code == 200
    r = admin.patch(f"/v1/forms/{f['id']}", {"status": "open"})
    assert r.status_code == 200, r.text
    assert r.json()["submission_limit"] == 2
    assert r.json()["submission_count"] == 2
    problem(submit(anon, f["slug"], VALID), 409, "limit_reached")
    assert len(list_subs(admin, f["id"])) == 2


def test_raising_the_limit_admits_more(admin, anon, pid):
    f = published_form(admin, pid, settings={"submission_limit": 1})
    submit_ok(anon, f["slug"], VALID)
    problem(submit(anon, f["slug"], VALID), 409, "limit_reached")
    r = admin.patch(f"/v1/forms/{f['id']}", {"settings": {"submission_limit": 2}})
    assert r.status_code == 200, r.text
    submit_ok(anon, f["slug"], VALID)
    problem(submit(anon, f["slug"], VALID), 409, "limit_reached")


def test_replay_still_answers_after_the_limit_is_reached(admin, anon, pid):
    f = published_form(admin, pid, settings={"submission_limit": 1})
    r1 = submit(anon, f["slug"], VALID, key="first")
    assert r1.status_code == 201, r1.text
    r2 = submit(anon, f["slug"], VALID, key="first")
    assert r2.status_code == 201, r2.text
    assert r2.json()["id"] == r1.json()["id"]
    assert r2.headers.get("Idempotent-Replayed") == "true"


# ---- list ----

@pytest.fixture(scope="module")
def listed(admin, anon, pid):
    """A form with five submissions; returns (form, submissions oldest first)."""
    f = published_form(admin, pid)
    subs = [submit_ok(anon, f["slug"], dict(VALID, age=20 + i)) for i in range(5)]
    return f, subs


def test_list_is_newest_first(admin, listed):
    f, subs = listed
    items = list_subs(admin, f["id"])
    assert [s["id"] for s in items] == [s["id"] for s in reversed(subs)]
    for s in items:
        assert s["form_id"] == f["id"]
        assert "data" in s and "status" in s
    created = [s["created_at"] for s in items]
    assert created == sorted(created, reverse=True)


def test_list_paginates_with_cursor(admin, listed):
    f, subs = listed
    seen, cursor, pages = [], None, 0
    while True:
        q = f"/v1/forms/{f['id']}/submissions?limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = admin.get(q)
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 3
    assert seen == [s["id"] for s in reversed(subs)]


def test_filter_by_status(admin, reviewer, listed):
    f, subs = listed
    rc, _ = reviewer
    target = subs[1]["id"]
    r = rc.patch(f"/v1/submissions/{target}", {"status": "approved"})
    assert r.status_code == 200, r.text
    approved = list_subs(admin, f["id"], "&status=approved")
    assert [s["id"] for s in approved] == [target]
    new = list_subs(admin, f["id"], "&status=new")
    assert target not in [s["id"] for s in new]
    assert len(new) == len(subs) - 1
    assert list_subs(admin, f["id"], "&status=rejected") == []


def test_filter_by_created_after_and_before(admin, listed):
    f, subs = listed
    fid = f["id"]
    allids = {s["id"] for s in subs}
    ids = lambda q: {s["id"] for s in list_subs(admin, fid, q)}  # noqa: E731
    assert ids("&created_after=2000-01-01T00:00:00Z") == allids
    assert ids("&created_after=2999-01-01T00:00:00Z") == set()
    assert ids("&created_before=2999-01-01T00:00:00.000Z") == allids
    assert ids("&created_before=2000-01-01T00:00:00Z") == set()
    assert ids("&created_after=2000-01-01T00:00:00Z&created_before=2999-12-31T23:59:59Z") == allids
    # An offset is accepted (+ must be percent-encoded in a query).
    assert ids("&created_after=2000-01-01T01:00:00%2B01:00") == allids
    # Split at the middle submission's time: those strictly earlier/later fall on one side.
    t = subs[2]["created_at"]
    earlier = {s["id"] for s in subs if s["created_at"] < t}
    later = {s["id"] for s in subs if s["created_at"] > t}
    after, before = ids(f"&created_after={t}"), ids(f"&created_before={t}")
    assert later <= after and not (earlier & after)
    assert earlier <= before and not (later & before)


def test_created_before_the_epoch_matches_nothing(admin, listed):
    f, _ = listed
    assert list_subs(admin, f["id"], "&created_before=1970-01-01T00:00:00Z") == []


def test_created_before_just_after_the_epoch_matches_nothing(admin, listed):
    f, _ = listed
    assert list_subs(admin, f["id"], "&created_before=1970-01-01T00:00:00.001Z") == []


@pytest.mark.parametrize("q", [
    "status=approve", "status=", "created_after=yesterday", "created_after=2026-13-01T00:00:00Z",
    "created_before=2026-02-30T00:00:00Z", "created_before=2026-01-01", "include_deleted=yes",
    "limit=0", "limit=201", "limit=abc", "cursor=nope", "cursor=%27%20OR%201%3D1%20--",
    "cursor=ILOVEYOUILOVEYOUILOVEYOUIL",
], ids=["status-unknown", "status-empty", "after-word", "after-month-13", "before-feb-30",
        "before-date-only", "include-deleted-yes", "limit-0", "limit-201", "limit-abc",
        "cursor-word", "cursor-sql", "cursor-not-base32"])
def test_bad_list_query_is_400(admin, listed, q):
    f, _ = listed
    problem(admin.get(f"/v1/forms/{f['id']}/submissions?{q}"), 400, "invalid")


def test_list_of_unknown_form_is_404(admin):
    problem(admin.get("/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV/submissions"), 404, "not_found")


# ---- one submission: get, review, edit ----

def test_get_unknown_submission_is_404(admin):
    problem(admin.get("/v1/submissions/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found")


def test_review_sets_reviewed_by_and_at(admin, anon, reviewer, intake):
    rc, name = reviewer
    s = submit_ok(anon, intake["slug"], VALID)
    r = rc.patch(f"/v1/submissions/{s['id']}", {"status": "needs_changes", "note": "age?"})
    assert r.status_code == 200, r.text
    sub = r.json()
    assert sub["status"] == "needs_changes"
    assert sub["reviewed_by"] == name
    assert TIME_RE.match(sub["reviewed_at"])
    assert sub["revision"] == 1
    assert sub["data"] == VALID
    assert admin.get(f"/v1/submissions/{s['id']}").json() == sub


def test_note_alone_keeps_the_status(admin, anon, reviewer, intake):
    rc, _ = reviewer
    s = submit_ok(anon, intake["slug"], VALID)
    assert rc.patch(f"/v1/submissions/{s['id']}", {"status": "approved"}).status_code == 200
    r = rc.patch(f"/v1/submissions/{s['id']}", {"note": "checked twice"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["data"] == VALID and r.json()["revision"] == 1


@pytest.mark.parametrize("body", [{}, {"status": "done"}, {"status": None}, {"status": 1},
                                  {"note": 5}, {"note": "n" * 2001}, {"owner": "me"}],
                         ids=["empty", "unknown-status", "null-status", "number-status",
                              "number-note", "long-note", "unknown-member"])
def test_bad_review_is_400_and_changes_nothing(admin, anon, intake, body):
    s = submit_ok(anon, intake["slug"], VALID)
    before = admin.get(f"/v1/submissions/{s['id']}").json()
    problem(admin.patch(f"/v1/submissions/{s['id']}", body), 400, "invalid")
    assert admin.get(f"/v1/submissions/{s['id']}").json() == before


def test_edit_data_validates_bumps_revision_and_keeps_history(admin, anon, editor, intake):
    ec, name = editor
    s = submit_ok(anon, intake["slug"], VALID)
    sid = s["id"]
    h = admin.get(f"/v1/submissions/{sid}/history")
    assert h.status_code == 200, h.text
    assert h.json() == {"items": []}

    p = problem(ec.patch(f"/v1/submissions/{sid}", {"data": {"email": "x@example.org",
                                                              "age": 3}}), 422, "validation")
    assert [e["path"] for e in p["errors"]] == ["/age"]
    assert admin.get(f"/v1/submissions/{sid}").json()["revision"] == 1
    problem(ec.patch(f"/v1/submissions/{sid}", {"data": "x"}), 400, "invalid")

    new = {"email": "grace@example.org", "age": 85}
    r = ec.patch(f"/v1/submissions/{sid}", {"data": new})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == new
    assert r.json()["revision"] == 2
    r = ec.patch(f"/v1/submissions/{sid}", {"data": VALID})
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 3

    items = admin.get(f"/v1/submissions/{sid}/history").json()["items"]
    assert [i["revision"] for i in items] == [1, 2]
    assert items[0]["data"] == VALID
    assert items[1]["data"] == new
    for i in items:
        assert i["edited_by"] == name
        assert TIME_RE.match(i["edited_at"])


def test_edit_validates_against_the_submissions_own_version(admin, anon, pid):
    f = published_form(admin, pid)
    s = submit_ok(anon, f["slug"], VALID)
    r = admin.put(f"/v1/forms/{f['id']}/draft", {"fields": [{"name": "nick", "type": "text"}]})
    assert r.status_code == 200, r.text
    publish(admin, f["id"])
    problem(admin.patch(f"/v1/submissions/{s['id']}", {"data": {"nick": "x"}}), 422,
            "validation")
    r = admin.patch(f"/v1/submissions/{s['id']}", {"data": dict(VALID, age=50)})
    assert r.status_code == 200, r.text
    assert r.json()["form_version"] == 1


def test_history_of_unknown_submission_is_404(admin):
    problem(admin.get("/v1/submissions/01ARZ3NDEKTSV4RRFFQ69G5FAV/history"), 404, "not_found")


# ---- delete, restore, purge ----

def test_soft_delete_and_restore(admin, anon, reviewer, pid):
    rc, _ = reviewer
    f = published_form(admin, pid)
    keep = submit_ok(anon, f["slug"], VALID)
    gone = submit_ok(anon, f["slug"], VALID)

    r = rc.delete(f"/v1/submissions/{gone['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert [s["id"] for s in list_subs(admin, f["id"])] == [keep["id"]]
    assert {s["id"] for s in list_subs(admin, f["id"], "&include_deleted=true")} == \
        {keep["id"], gone["id"]}
    assert [s["id"] for s in list_subs(admin, f["id"], "&include_deleted=false")] == [keep["id"]]
    g = admin.get(f"/v1/submissions/{gone['id']}")
    assert g.status_code == 200, g.text
    assert TIME_RE.match(g.json()["deleted_at"])

    r = rc.post(f"/v1/submissions/{gone['id']}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == gone["id"]
    assert r.json()["deleted_at"] is None
    assert {s["id"] for s in list_subs(admin, f["id"])} == {keep["id"], gone["id"]}


def test_purge_removes_for_good(admin, anon, editor, pid):
    ec, _ = editor
    f = published_form(admin, pid)
    s = submit_ok(anon, f["slug"], VALID)
    assert ec.patch(f"/v1/submissions/{s['id']}", {"data": dict(VALID, age=60)}).status_code == 200
    r = admin.post(f"/v1/submissions/{s['id']}/purge")
    assert r.status_code == 204, r.text
    problem(admin.get(f"/v1/submissions/{s['id']}"), 404, "not_found")
    problem(admin.get(f"/v1/submissions/{s['id']}/history"), 404, "not_found")
    assert list_subs(admin, f["id"], "&include_deleted=true") == []
    problem(admin.post(f"/v1/submissions/{s['id']}/purge"), 404, "not_found")
    problem(admin.post(f"/v1/submissions/{s['id']}/restore"), 404, "not_found")
    problem(admin.delete(f"/v1/submissions/{s['id']}"), 404, "not_found")


def test_purge_of_a_soft_deleted_submission(admin, anon, pid):
    f = published_form(admin, pid)
    s = submit_ok(anon, f["slug"], VALID)
    assert admin.delete(f"/v1/submissions/{s['id']}").status_code == 204
    assert admin.post(f"/v1/submissions/{s['id']}/purge").status_code == 204
    problem(admin.get(f"/v1/submissions/{s['id']}"), 404, "not_found")


# ---- conditional fields ----

CONDITIONAL = [
    {"name": "has_pet", "type": "checkbox"},
    {"name": "pet", "type": "text", "visible_if": {"field": "has_pet", "equals": True}},
    {"name": "reason", "type": "textarea", "required_if": {"field": "has_pet", "equals": True}},
]


@pytest.fixture(scope="module")
def conditional(admin, pid):
    return published_form(admin, pid, name="Pets", fields=CONDITIONAL)


@pytest.mark.parametrize("data,ok", [
    ({"has_pet": True}, False),
    ({"has_pet": True, "pet": "cat"}, False),
    ({"has_pet": False, "pet": "cat"}, False),
    ({"pet": "cat"}, False),
    ({"has_pet": True, "pet": "cat", "reason": "company"}, True),
    ({"has_pet": True, "reason": "company"}, True),
    ({"has_pet": False}, True),
    ({"has_pet": False, "reason": "none"}, True),
    ({}, True),
], ids=["pet-owner-without-reason", "pet-without-reason", "hidden-pet-given",
        "pet-without-has-pet", "all-given", "reason-without-pet", "no-pet", "no-pet-with-reason",
        "empty"])
def test_conditional_fields(anon, conditional, data, ok):
    r = submit(anon, conditional["slug"], data)
    if ok:
        assert r.status_code == 201, r.text
    else:
        p = problem(r, 422, "validation")
        assert p["errors"]


# ---- every field type ----

TYPES = [
    {"name": "f_text", "type": "text"},
    {"name": "f_textarea", "type": "textarea"},
    {"name": "f_email", "type": "email"},
    {"name": "f_number", "type": "number", "min": 0, "max": 10},
    {"name": "f_integer", "type": "integer"},
    {"name": "f_date", "type": "date"},
    {"name": "f_select", "type": "select", "options": ["red", "green"]},
    {"name": "f_multi", "type": "multiselect", "options": ["a", "b", "c"]},
    {"name": "f_check", "type": "checkbox"},
    {"name": "f_rating", "type": "rating", "max": 5},
    {"name": "f_phone", "type": "phone"},
    {"name": "f_url", "type": "url"},
]


@pytest.fixture(scope="module")
def typed(admin, pid):
    return published_form(admin, pid, name="All Types", fields=TYPES)


CASES = [
    ("f_text", "hello", 5),
    ("f_textarea", "two\nlines", ["x"]),
    ("f_email", "ada.lovelace@example.org", "not-an-email"),
    ("f_email", "a+b@mail.example.com", "a@"),
    ("f_number", 3.5, "3.5"),
    ("f_number", 10, 10.5),
    ("f_integer", 4, 4.5),
    ("f_integer", -7, "4"),
    ("f_date", "2026-02-28", "2026-02-30"),
    ("f_date", "2024-02-29", "2026/02/28"),
    ("f_select", "red", "blue"),
    ("f_select", "green", ["red"]),
    ("f_multi", ["a", "c"], ["a", "a"]),
    ("f_multi", [], ["z"]),
    ("f_multi", ["b"], "a"),
    ("f_check", True, "true"),
    ("f_check", False, 1),
    ("f_rating", 5, 6),
    ("f_rating", 1, 0),
    ("f_rating", 3, 2.5),
    ("f_phone", "+1 555-123-4567", "call me maybe"),
    ("f_phone", "030 1234567", "12"),
    ("f_url", "https://example.org/path?q=1", "example.org"),
    ("f_url", "http://localhost:8080/", "not a url"),
]


@pytest.mark.parametrize("field,good,bad", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_field_type_accepts_valid_and_rejects_invalid(anon, typed, field, good, bad):
    r = submit(anon, typed["slug"], {field: good})
    assert r.status_code == 201, r.text
    p = problem(submit(anon, typed["slug"], {field: bad}), 422, "validation")
    assert p["errors"], p
    assert all(e["path"].startswith(f"/{field}") for e in p["errors"]), p["errors"]


def test_required_field_missing_is_reported_on_the_object(anon, intake):
    p = problem(submit(anon, intake["slug"], {"age": 20}), 422, "validation")
    assert len(p["errors"]) == 1
    e = p["errors"][0]
    assert e["keyword"] == "required" and e["path"] == ""
