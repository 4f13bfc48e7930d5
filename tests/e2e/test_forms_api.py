"""Projects and forms: create, read, list, change, draft and publish (docs/api.md)."""
import re
import uuid

import pytest

from conftest import make_form, make_project, problem, publish

ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "age", "type": "integer", "min": 18, "max": 130},
]
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"title": {"type": "string", "maxLength": 20}},
    "required": ["title"],
    "additionalProperties": False,
}


def uniq(prefix="form"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def pid(admin):
    return make_project(admin, "Forms API")


def count_projects(admin):
    r = admin.get("/v1/projects?limit=200")
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


def get_form(admin, fid):
    r = admin.get(f"/v1/forms/{fid}")
    assert r.status_code == 200, r.text
    return r.json()


# ---- projects ----

def test_create_project_answers_201_with_location(admin):
    r = admin.post("/v1/projects", {"name": "Alpha"})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    p = r.json()
    assert set(p) == {"id", "name", "created_at"}
    assert ID_RE.match(p["id"]), p
    assert p["name"] == "Alpha"
    assert TIME_RE.match(p["created_at"]), p
    assert r.headers["Location"] == f"/v1/projects/{p['id']}"
    g = admin.get(r.headers["Location"])
    assert g.status_code == 200, g.text
    assert g.json() == p


def test_list_projects_contains_new_ones_newest_first(admin):
    a = make_project(admin, "List A")
    b = make_project(admin, "List B")
    r = admin.get("/v1/projects?limit=200")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "next_cursor"}
    ids = [p["id"] for p in body["items"]]
    assert a in ids and b in ids
    assert ids.index(b) < ids.index(a), "newest first"
    assert ids == sorted(ids, reverse=True)


def test_list_projects_paginates(admin):
    for i in range(3):
        make_project(admin, f"Page {i}")
    total = count_projects(admin)
    seen, cursor = [], None
    for _ in range(total + 1):
        q = "/v1/projects?limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = admin.get(q)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None
    assert len(seen) == len(set(seen)) == total


def test_get_unknown_project_is_404(admin):
    problem(admin.get("/v1/projects/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found")


def test_project_name_of_200_characters_is_accepted(admin):
    r = admin.post("/v1/projects", {"name": "n" * 200})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "n" * 200


@pytest.mark.parametrize("body", [
    {},
    {"name": ""},
    {"name": "n" * 201},
    {"name": "bell\x07"},
    {"name": "new\nline"},
    {"name": "tab\there"},
    {"name": "del\x7f"},
    {"name": 42},
    {"name": None},
    {"name": ["x"]},
    {"name": {"x": 1}},
    {"name": True},
    {"name": "ok", "colour": "red"},
], ids=["missing", "empty", "201-chars", "bell", "newline", "tab", "del", "number", "null",
        "array", "object", "bool", "unknown-member"])
def test_bad_project_bodies_are_400_and_store_nothing(admin, body):
    before = count_projects(admin)
    problem(admin.post("/v1/projects", body), 400, "invalid")
    assert count_projects(admin) == before


# ---- forms: create ----

def test_create_form_with_fields(admin, pid):
    name = uniq("Fields Form")
    r = admin.post(f"/v1/projects/{pid}/forms", {"name": name, "fields": FIELDS})
    assert r.status_code == 201, r.text
    f = r.json()
    assert ID_RE.match(f["id"])
    assert r.headers["Location"] == f"/v1/forms/{f['id']}"
    assert f["project_id"] == pid
    assert f["name"] == name
    assert f["status"] == "draft"
    assert f["draft_version"] == 1
    assert f["published_version"] is None
    assert f["published"] is None
    assert f["submission_limit"] is None
    assert f["submission_count"] == 0
    assert TIME_RE.match(f["created_at"]) and TIME_RE.match(f["updated_at"])
    d = f["draft"]
    assert d["version"] == 1
    assert d["fields"] == FIELDS
    s = d["schema"]
    assert s["type"] == "object"
    assert s["additionalProperties"] is False
    assert set(s["properties"]) == {"email", "age"}
    assert s["required"] == ["email"]


def test_create_form_with_raw_schema(admin, pid):
    ui = {"order": ["title"]}
    r = admin.post(f"/v1/projects/{pid}/forms",
                   {"name": uniq("Schema Form"), "schema": SCHEMA, "ui": ui,
                    "settings": {"submission_limit": 3}})
    assert r.status_code == 201, r.text
    f = r.json()
    assert f["status"] == "draft"
    assert f["draft_version"] == 1
    assert f["published_version"] is None
    assert f["submission_limit"] == 3
    assert f["draft"]["schema"] == SCHEMA
    assert f["draft"]["fields"] is None
    assert f["draft"]["ui"] == ui
    assert f["draft"]["settings"] == {"submission_limit": 3}


def test_slug_is_made_from_the_name_and_kept_unique(admin, pid):
    name = "Slug Maker " + uuid.uuid4().hex[:8]
    a = make_form(admin, pid, name=name)
    b = make_form(admin, pid, name=name)
    for f in (a, b):
        assert SLUG_RE.match(f["slug"]), f["slug"]
    assert a["slug"] == "slug-maker-" + name.split()[-1]
    assert b["slug"] != a["slug"]
    assert b["slug"].startswith("slug-maker-")
    assert a["id"] != b["id"]


def test_slug_from_a_name_without_letters_is_still_valid(admin, pid):
    f = make_form(admin, pid, name="!!! ???")
    assert SLUG_RE.match(f["slug"]), f["slug"]


def test_explicit_slug_is_used(admin, pid):
    slug = uniq("explicit")
    f = make_form(admin, pid, name="Anything At All", slug=slug)
    assert f["slug"] == slug


@pytest.mark.parametrize("slug", [
    "", "Upper", "-leading", "has space", "under_score", "dot.ted", "a" * 64, "caf\u00e9",
    "slash/x", 7, None, ["a"],
], ids=["empty", "upper", "leading-dash", "space", "underscore", "dot", "64-chars", "non-ascii",
        "slash", "number", "null", "array"])
def test_invalid_slug_is_400(admin, pid, slug):
    problem(admin.post(f"/v1/projects/{pid}/forms",
                       {"name": "Bad Slug", "slug": slug, "fields": FIELDS}), 400, "invalid")


def test_slug_of_63_characters_is_accepted(admin, pid):
    slug = ("s" + uuid.uuid4().hex) * 2
    slug = (slug + "x" * 63)[:63]
    f = make_form(admin, pid, slug=slug)
    assert f["slug"] == slug


def test_duplicate_explicit_slug_is_409(admin, pid):
    slug = uniq("dup")
    make_form(admin, pid, slug=slug)
    before = admin.get(f"/v1/projects/{pid}/forms?limit=200").json()["items"]
    problem(admin.post(f"/v1/projects/{pid}/forms",
                       {"name": "Again", "slug": slug, "fields": FIELDS}), 409, "conflict")
    after = admin.get(f"/v1/projects/{pid}/forms?limit=200").json()["items"]
    assert len(after) == len(before)


def test_duplicate_slug_in_another_project_is_409(admin, pid):
    other = make_project(admin, "Other Slugs")
    slug = uniq("global")
    make_form(admin, pid, slug=slug)
    problem(admin.post(f"/v1/projects/{other}/forms",
                       {"name": "Again", "slug": slug, "fields": FIELDS}), 409, "conflict")


@pytest.mark.parametrize("fields", [
    [{"name": "a", "type": "colour"}],
    [{"name": "a", "type": "text"}, {"name": "a", "type": "email"}],
    [{"name": "1abc", "type": "text"}],
    [{"name": "has-dash", "type": "text"}],
    [{"name": "", "type": "text"}],
    [{"name": "x" * 65, "type": "text"}],
    [{"type": "text"}],
    [{"name": "a"}],
    [{"name": "a", "type": "text", "colour": "red"}],
    [{"name": "a", "type": "select"}],
    [{"name": "a", "type": "select", "options": []}],
    [{"name": "a", "type": "select", "options": ["x", "x"]}],
    [{"name": "a", "type": "integer", "min": 10, "max": 1}],
    [{"name": "a", "type": "text", "pattern": "("}],
    [{"name": "a", "type": "text", "visible_if": {"field": "nope", "equals": 1}}],
    [{"name": "a", "type": "checkbox", "min": 1}],
    [],
    "text",
    {"name": "a", "type": "text"},
    ["a"],
], ids=["unknown-type", "duplicate-names", "name-starts-with-digit", "name-with-dash",
        "empty-name", "65-char-name", "no-name", "no-type", "unknown-member", "select-no-options",
        "select-empty-options", "select-repeated-options", "min-above-max", "bad-pattern",
        "condition-unknown-field", "member-not-for-type", "empty-list", "string", "object",
        "not-objects"])
def test_invalid_fields_are_422(admin, pid, fields):
    p = problem(admin.post(f"/v1/projects/{pid}/forms", {"name": "Bad Fields", "fields": fields}),
                422, "invalid_fields")
    assert p["detail"]


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}},
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
    {"$ref": "#/nowhere"},
    {"type": 5},
    "object",
    17,
    ["type", "object"],
    None,
], ids=["bad-pattern", "unresolvable-ref", "unresolvable-root-ref", "bad-type-keyword",
        "string", "number", "array", "null"])
def test_invalid_schema_is_422(admin, pid, schema):
    problem(admin.post(f"/v1/projects/{pid}/forms", {"name": "Bad Schema", "schema": schema}),
            422, "invalid_schema")


def test_schema_and_fields_together_is_400(admin, pid):
    problem(admin.post(f"/v1/projects/{pid}/forms",
                       {"name": "Both", "schema": SCHEMA, "fields": FIELDS}), 400, "invalid")


def test_neither_schema_nor_fields_is_400(admin, pid):
    problem(admin.post(f"/v1/projects/{pid}/forms", {"name": "Neither"}), 400, "invalid")


@pytest.mark.parametrize("body", [
    {"fields": FIELDS},
    {"name": "", "fields": FIELDS},
    {"name": "n" * 201, "fields": FIELDS},
    {"name": 5, "fields": FIELDS},
    {"name": "x", "fields": FIELDS, "owner": "me"},
    {"name": "x", "fields": FIELDS, "ui": "big"},
    {"name": "x", "fields": FIELDS, "settings": "none"},
    {"name": "x", "fields": FIELDS, "settings": {"submission_limit": 0}},
    {"name": "x", "fields": FIELDS, "settings": {"submission_limit": -3}},
    {"name": "x", "fields": FIELDS, "settings": {"submission_limit": "5"}},
    {"name": "x", "fields": FIELDS, "settings": {"submission_limit": 2.5}},
], ids=["no-name", "empty-name", "long-name", "number-name", "unknown-member", "ui-string",
        "settings-string", "limit-0", "limit-negative", "limit-string", "limit-fraction"])
def test_bad_form_bodies_are_400(admin, pid, body):
    problem(admin.post(f"/v1/projects/{pid}/forms", body), 400, "invalid")


def test_create_form_in_unknown_project_is_404(admin):
    problem(admin.post("/v1/projects/01ARZ3NDEKTSV4RRFFQ69G5FAV/forms",
                       {"name": "Lost", "fields": FIELDS}), 404, "not_found")


# ---- forms: read ----

def test_get_form_matches_created(admin, pid):
    f = make_form(admin, pid, name=uniq("Get Me"))
    assert get_form(admin, f["id"]) == f


def test_get_unknown_form_is_404(admin):
    problem(admin.get("/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found")


# ---- draft and publish ----

def test_put_draft_before_publish_edits_version_1(admin, pid):
    f = make_form(admin, pid)
    new_fields = [{"name": "nick", "type": "text", "required": True}]
    r = admin.put(f"/v1/forms/{f['id']}/draft", {"fields": new_fields})
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["draft_version"] == 1
    assert g["published_version"] is None
    assert g["draft"]["fields"] == new_fields
    assert set(g["draft"]["schema"]["properties"]) == {"nick"}
    assert get_form(admin, f["id"]) == g


def test_publish_then_put_draft_makes_a_new_version(admin, pid):
    f = make_form(admin, pid)
    r = admin.post(f"/v1/forms/{f['id']}/publish")
    assert r.status_code == 200, r.text
    assert r.json() == {"version": 1}
    g = get_form(admin, f["id"])
    assert g["status"] == "open"
    assert g["published_version"] == 1
    assert g["published"]["version"] == 1
    assert TIME_RE.match(g["published"]["published_at"])
    old_schema = g["published"]["schema"]

    new_fields = [{"name": "nick", "type": "text"}]
    r = admin.put(f"/v1/forms/{f['id']}/draft", {"fields": new_fields})
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["draft_version"] == 2
    assert g["published_version"] == 1
    assert g["draft"]["version"] == 2
    assert g["draft"]["fields"] == new_fields
    assert g["published"]["schema"] == old_schema, "the published version is frozen"
    assert g["published"]["fields"] == FIELDS

    # A second edit changes the same unpublished draft.
    r = admin.put(f"/v1/forms/{f['id']}/draft", {"schema": SCHEMA})
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["draft_version"] == 2
    assert g["draft"]["schema"] == SCHEMA
    assert g["draft"]["fields"] is None
    assert g["published"]["schema"] == old_schema

    assert publish(admin, f["id"]) == 2
    g = get_form(admin, f["id"])
    assert g["published_version"] == 2 and g["draft_version"] == 2
    assert g["published"]["schema"] == SCHEMA

    r = admin.put(f"/v1/forms/{f['id']}/draft", {"fields": FIELDS})
    assert r.status_code == 200, r.text
    assert r.json()["draft_version"] == 3
    assert r.json()["published_version"] == 2


def test_publishing_twice_without_changes_returns_the_same_version(admin, pid):
    f = make_form(admin, pid)
    assert publish(admin, f["id"]) == 1
    assert publish(admin, f["id"]) == 1
    g = get_form(admin, f["id"])
    assert g["draft_version"] == 1 and g["published_version"] == 1


def test_put_draft_settings_sets_the_limit(admin, pid):
    f = make_form(admin, pid)
    r = admin.put(f"/v1/forms/{f['id']}/draft",
                  {"fields": FIELDS, "settings": {"submission_limit": 7}})
    assert r.status_code == 200, r.text
    assert r.json()["submission_limit"] == 7
    assert r.json()["draft"]["settings"] == {"submission_limit": 7}


@pytest.mark.parametrize("body,status,name", [
    ({"fields": FIELDS, "schema": SCHEMA}, 400, "invalid"),
    ({}, 400, "invalid"),
    ({"fields": FIELDS, "name": "renamed"}, 400, "invalid"),
    ({"fields": [{"name": "a", "type": "nope"}]}, 422, "invalid_fields"),
    ({"schema": {"$ref": "#/nope"}}, 422, "invalid_schema"),
    ({"schema": "object"}, 422, "invalid_schema"),
], ids=["both", "neither", "unknown-member", "bad-fields", "bad-ref", "schema-string"])
def test_bad_put_draft_is_refused_and_changes_nothing(admin, pid, body, status, name):
    f = make_form(admin, pid)
    problem(admin.put(f"/v1/forms/{f['id']}/draft", body), status, name)
    assert get_form(admin, f["id"]) == f


def test_put_draft_of_unknown_form_is_404(admin):
    problem(admin.put("/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV/draft", {"fields": FIELDS}),
            404, "not_found")


def test_publish_unknown_form_is_404(admin):
    problem(admin.post("/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV/publish"), 404, "not_found")


def test_publish_with_a_body_is_400(admin, pid):
    f = make_form(admin, pid)
    problem(admin.post(f"/v1/forms/{f['id']}/publish", {"version": 1}), 400, "invalid")
    assert get_form(admin, f["id"])["published_version"] is None


# ---- PATCH ----

def test_patch_name(admin, pid):
    f = make_form(admin, pid)
    r = admin.patch(f"/v1/forms/{f['id']}", {"name": "Renamed Form"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed Form"
    assert r.json()["slug"] == f["slug"], "renaming keeps the slug"
    assert get_form(admin, f["id"])["name"] == "Renamed Form"


def test_patch_status_close_and_reopen(admin, pid):
    f = make_form(admin, pid)
    publish(admin, f["id"])
    r = admin.patch(f"/v1/forms/{f['id']}", {"status": "closed"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
    r = admin.patch(f"/v1/forms/{f['id']}", {"status": "open"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open"


def test_patch_submission_limit(admin, pid):
    f = make_form(admin, pid)
    r = admin.patch(f"/v1/forms/{f['id']}", {"settings": {"submission_limit": 10}})
    assert r.status_code == 200, r.text
    assert r.json()["submission_limit"] == 10
    r = admin.patch(f"/v1/forms/{f['id']}", {"name": "Still Limited"})
    assert r.status_code == 200, r.text
    assert r.json()["submission_limit"] == 10, "a PATCH without settings keeps the limit"
    r = admin.patch(f"/v1/forms/{f['id']}", {"settings": {"submission_limit": None}})
    assert r.status_code == 200, r.text
    assert r.json()["submission_limit"] is None


def test_opening_a_never_published_form_is_409(admin, pid):
    f = make_form(admin, pid)
    problem(admin.patch(f"/v1/forms/{f['id']}", {"status": "open"}), 409, "conflict")
    assert get_form(admin, f["id"])["status"] == "draft"


@pytest.mark.parametrize("body", [
    {"status": "draft"},
    {"status": "OPEN"},
    {"status": 1},
    {"name": ""},
    {"name": None},
    {"name": "x" * 201},
    {"settings": {"submission_limit": 0}},
    {"settings": {"submission_limit": "3"}},
    {"settings": []},
    {"slug": "new-slug"},
], ids=["status-draft", "status-upper", "status-number", "empty-name", "null-name", "long-name",
        "limit-0", "limit-string", "settings-array", "slug-not-patchable"])
def test_bad_patch_is_400_and_changes_nothing(admin, pid, body):
    f = make_form(admin, pid)
    problem(admin.patch(f"/v1/forms/{f['id']}", body), 400, "invalid")
    assert get_form(admin, f["id"]) == f


def test_patch_unknown_form_is_404(admin):
    problem(admin.patch("/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"name": "x"}), 404,
            "not_found")


# ---- list ----

def test_list_forms_paginates_with_cursor(admin):
    p = make_project(admin, "Paged Forms")
    created = [make_form(admin, p, name=f"Paged {i}")["id"] for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        q = f"/v1/projects/{p}/forms?limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = admin.get(q)
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        assert len(page["items"]) == (2 if pages < 3 else 1)
        for item in page["items"]:
            assert item["project_id"] == p
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 5, "pagination does not end"
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == set(created)
    assert seen == sorted(created, reverse=True), "newest first"


def test_list_forms_default_limit_returns_all_of_a_small_project(admin):
    p = make_project(admin, "Small")
    ids = {make_form(admin, p)["id"] for _ in range(2)}
    r = admin.get(f"/v1/projects/{p}/forms")
    assert r.status_code == 200, r.text
    assert {f["id"] for f in r.json()["items"]} == ids
    assert r.json()["next_cursor"] is None


@pytest.mark.parametrize("q", ["limit=0", "limit=201", "limit=abc", "limit=-1", "limit=1.5",
                               "limit="])
def test_bad_limit_is_400(admin, pid, q):
    problem(admin.get(f"/v1/projects/{pid}/forms?{q}"), 400, "invalid")
    problem(admin.get(f"/v1/projects?{q}"), 400, "invalid")


def test_limit_bounds_are_accepted(admin, pid):
    for q in ("limit=1", "limit=200"):
        r = admin.get(f"/v1/projects/{pid}/forms?{q}")
        assert r.status_code == 200, r.text
    assert len(admin.get(f"/v1/projects/{pid}/forms?limit=1").json()["items"]) == 1


def test_list_forms_of_unknown_project_is_404(admin):
    problem(admin.get("/v1/projects/01ARZ3NDEKTSV4RRFFQ69G5FAV/forms"), 404, "not_found")


# ---- public form definition ----

def test_public_form_definition(admin, anon, pid):
    ui = {"submit_label": "Send"}
    f = make_form(admin, pid, name="Public Intake", ui=ui)
    publish(admin, f["id"])
    r = anon.get(f"/v1/public/forms/{f['slug']}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"slug", "name", "status", "version", "schema", "ui", "fill_token"}
    assert isinstance(body["fill_token"], str) and body["fill_token"]
    assert body["slug"] == f["slug"]
    assert body["name"] == "Public Intake"
    assert body["status"] == "open"
    assert body["version"] == 1
    assert body["schema"] == f["draft"]["schema"]
    assert body["ui"] == ui


def test_public_form_shows_the_published_version_not_the_draft(admin, anon, pid):
    f = make_form(admin, pid)
    publish(admin, f["id"])
    r = admin.put(f"/v1/forms/{f['id']}/draft", {"schema": SCHEMA})
    assert r.status_code == 200, r.text
    body = anon.get(f"/v1/public/forms/{f['slug']}").json()
    assert body["version"] == 1
    assert body["schema"] == f["draft"]["schema"]
    publish(admin, f["id"])
    body = anon.get(f"/v1/public/forms/{f['slug']}").json()
    assert body["version"] == 2
    assert body["schema"] == SCHEMA


def test_public_form_shows_closed_status(admin, anon, pid):
    f = make_form(admin, pid)
    publish(admin, f["id"])
    # Read it first, so a cached copy exists that closing must replace.
    assert anon.get(f"/v1/public/forms/{f['slug']}").json()["status"] == "open"
    assert admin.patch(f"/v1/forms/{f['id']}", {"status": "closed"}).status_code == 200
    r = anon.get(f"/v1/public/forms/{f['slug']}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"


def test_public_form_of_unpublished_form_is_404(admin, anon, pid):
    f = make_form(admin, pid)
    problem(anon.get(f"/v1/public/forms/{f['slug']}"), 404, "not_found")


def test_public_form_unknown_slug_is_404(anon):
    problem(anon.get("/v1/public/forms/no-such-form-anywhere"), 404, "not_found")


def test_public_form_name_with_quotes_is_valid_json(admin, anon, pid):
    name = 'He said "hi" \\ and \u00e9\u4e2d'
    f = make_form(admin, pid, name=name)
    publish(admin, f["id"])
    r = anon.get(f"/v1/public/forms/{f['slug']}")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == name
