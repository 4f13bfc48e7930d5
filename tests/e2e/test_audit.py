"""The audit log: one row per management action, who / what / outcome, never editable.

A change's row commits with the change; denied and failed attempts are
written by the server just after it answers, so the tests look for a
request's row (by its X-Request-Id) until it is there.
"""
import json
import time
import uuid

import pytest

from conftest import PG_URL, make_form, make_project, problem, publish

PASSWORD = "correct horse battery"
VALID = {"email": "ada@example.org", "age": 36}


def new_key(server, role, pid=None, name=None):
    args = ["admin", "create-key", "--name", name or f"{role}-key", "--role", role]
    if pid:
        args += ["--project", pid]
    return server.cli(*args).stdout.strip()


def all_rows(client, **query):
    """Every row the caller may read that matches query, newest first, page by page."""
    items, cursor = [], None
    while True:
        params = dict(query, limit=200)
        if cursor:
            params["cursor"] = cursor
        r = client.get("/v1/audit", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def row_of(admin, r, deadline=30):
    """The one audit row of response r (found by request id), waiting for it to be written."""
    rid = r.headers["X-Request-Id"]
    end = time.time() + deadline
    while True:
        found = [x for x in all_rows(admin) if x["request_id"] == rid]
        if found or time.time() > end:
            break
        time.sleep(0.05)
    assert len(found) == 1, (rid, found)
    row = found[0]
    assert row["status"] == r.status_code, (row, r.status_code, r.text)
    return row


def outcome_for(status):
    if status < 400:
        return "ok"
    return "denied" if status in (401, 403, 404) else "failed"


@pytest.fixture(scope="module")
def me(admin):
    return admin.get("/v1/me").json()


@pytest.fixture(scope="module")
def world(admin, anon):
    pid = make_project(admin, "Audited")
    form = make_form(admin, pid, name="Audited form")
    publish(admin, form["id"])
    r = anon.post(f"/v1/public/forms/{form['slug']}/submissions", {"data": VALID},
                  headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return {"pid": pid, "fid": form["id"], "slug": form["slug"], "sid": r.json()["id"]}


def check(admin, me, r, action, target_type=None, target_id=None, project=None):
    row = row_of(admin, r)
    assert row["action"] == action, row
    assert row["outcome"] == outcome_for(r.status_code), row
    assert row["actor_kind"] == "key" and row["actor_id"] == me["id"], row
    assert row["actor_name"] == me["name"], row
    assert row["client"] == "127.0.0.1", row
    if target_type:
        assert row["target_type"] == target_type, row
    if target_id:
        assert row["target_id"] == target_id, row
    if project:
        assert row["project_id"] == project, row
    assert row["detail"]["method"] == r.request.method
    return row


def test_each_management_action_has_one_row(admin, me, world):
    pid, fid, sid = world["pid"], world["fid"], world["sid"]

    r = admin.post("/v1/projects", {"name": "Another"})
    assert r.status_code == 201
    check(admin, me, r, "project.create", "project", r.json()["id"], r.json()["id"])

    r = admin.post(f"/v1/projects/{pid}/forms", {"name": "Second", "fields": [
        {"name": "email", "type": "email"}]})
    assert r.status_code == 201, r.text
    fid2 = r.json()["id"]
    check(admin, me, r, "form.create", "form", fid2, pid)

    r = admin.put(f"/v1/forms/{fid2}/draft", {"fields": [{"name": "note", "type": "text"}]})
    assert r.status_code == 200, r.text
    check(admin, me, r, "form.draft", "form", fid2, pid)

    r = admin.patch(f"/v1/forms/{fid2}", {"name": "Second, renamed"})
    assert r.status_code == 200, r.text
    check(admin, me, r, "form.update", "form", fid2, pid)

    r = admin.post(f"/v1/forms/{fid2}/publish")
    assert r.status_code == 200, r.text
    check(admin, me, r, "form.publish", "form", fid2, pid)

    r = admin.patch(f"/v1/submissions/{sid}", {"status": "approved"})
    assert r.status_code == 200, r.text
    check(admin, me, r, "submission.update", "submission", sid, pid)

    r = admin.delete(f"/v1/submissions/{sid}")
    assert r.status_code == 204, r.text
    check(admin, me, r, "submission.delete", "submission", sid, pid)

    r = admin.post(f"/v1/submissions/{sid}/restore")
    assert r.status_code == 200, r.text
    check(admin, me, r, "submission.restore", "submission", sid, pid)

    r = admin.post(f"/v1/forms/{fid}/webhooks", {"url": "https://example.org/hook",
                                                  "events": ["submission.created"]})
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    check(admin, me, r, "webhook.create", "webhook", wid, pid)

    r = admin.delete(f"/v1/webhooks/{wid}")
    assert r.status_code == 204, r.text
    check(admin, me, r, "webhook.delete", "webhook", wid, pid)

    r = admin.post(f"/v1/forms/{fid}/exports", {"format": "csv"})
    assert r.status_code == 202, r.text
    check(admin, me, r, "export.create", "export", None, pid)
    tid = r.json()["task_id"]

    r = admin.post(f"/v1/tasks/{tid}/cancel")
    check(admin, me, r, "task.cancel", "task", tid)

    r = admin.post("/v1/queues/low/pause")
    assert r.status_code == 200, r.text
    check(admin, me, r, "queue.pause", "queue", "low")
    r = admin.post("/v1/queues/low/resume")
    assert r.status_code == 200, r.text
    check(admin, me, r, "queue.resume", "queue", "low")

    r = admin.post(f"/v1/submissions/{sid}/purge")
    assert r.status_code == 204, r.text
    check(admin, me, r, "submission.purge", "submission", sid, pid)


def test_key_creation_and_revocation_name_the_key(admin, me, world):
    r = admin.post("/v1/keys", {"name": "audited", "role": "viewer", "project_id": world["pid"]})
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    check(admin, me, r, "key.create", "key", kid, world["pid"])
    r = admin.delete(f"/v1/keys/{kid}")
    assert r.status_code == 204, r.text
    check(admin, me, r, "key.delete", "key", kid)


def test_public_submissions_are_not_audited(admin, anon, world):
    r = anon.post(f"/v1/public/forms/{world['slug']}/submissions", {"data": VALID},
                  headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    # A later management action's row is there, the submission's never is.
    marker = admin.post(f"/v1/forms/{world['fid']}/publish")
    row_of(admin, marker)
    assert not [x for x in all_rows(admin) if x["request_id"] == r.headers["X-Request-Id"]]


def test_denied_attempts_are_recorded(server, admin, anon, world):
    viewer_key = new_key(server, "viewer", world["pid"], name="audit-viewer")
    viewer = admin.as_(viewer_key)
    viewer_id = viewer.get("/v1/me").json()["id"]

    r = viewer.post(f"/v1/forms/{world['fid']}/publish")
    problem(r, 403)
    row = row_of(admin, r)
    assert (row["action"], row["outcome"], row["actor_id"]) == ("form.publish", "denied", viewer_id)
    assert row["target_id"] == world["fid"] and row["project_id"] == world["pid"]

    other = make_project(admin, "Elsewhere")
    outsider = admin.as_(new_key(server, "editor", other, name="audit-outsider"))
    r = outsider.post(f"/v1/forms/{world['fid']}/publish")
    problem(r, 404)
    assert row_of(admin, r)["outcome"] == "denied"

    r = anon.as_("fmd_not_a_real_token").post("/v1/projects", {"name": "x"})
    problem(r, 401)
    row = row_of(admin, r)
    assert (row["actor_kind"], row["actor_id"], row["outcome"]) == ("anonymous", None, "denied")


def test_a_failed_write_is_recorded_and_changes_nothing(admin, me, world):
    before = admin.get(f"/v1/forms/{world['fid']}").json()
    r = admin.put(f"/v1/forms/{world['fid']}/draft", {"schema": {"type": "no-such-type"}})
    assert r.status_code in (400, 422), r.text
    row = check(admin, me, r, "form.draft", "form", world["fid"], world["pid"])
    assert row["outcome"] == "failed"
    after = admin.get(f"/v1/forms/{world['fid']}").json()
    assert after == before
    # only the failure: no "ok" row for this request went in with a change
    assert [x["outcome"] for x in all_rows(admin, target=world["fid"])
            if x["request_id"] == r.headers["X-Request-Id"]] == ["failed"]


def test_login_logout_and_failed_login(server, admin, anon):
    email = f"a{uuid.uuid4().hex[:8]}@example.org"
    uid = server.cli("admin", "create-user", "--email", email, "--password-file", "-",
                     "--role", "viewer", input=PASSWORD + "\n").stdout.strip()

    r = anon.post("/v1/auth/login", {"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    row = row_of(admin, r)
    assert (row["action"], row["outcome"]) == ("auth.login", "ok")
    assert (row["actor_kind"], row["actor_id"], row["actor_name"]) == ("session", uid, email)

    session = anon.as_(r.json()["token"])
    r = session.post("/v1/auth/logout")
    assert r.status_code == 204
    row = row_of(admin, r)
    assert (row["action"], row["actor_id"], row["outcome"]) == ("auth.logout", uid, "ok")

    # a wrong password: the account is named by id, the password never appears
    r = anon.post("/v1/auth/login", {"email": email, "password": "wrong " + PASSWORD})
    problem(r, 401)
    row = row_of(admin, r)
    assert (row["action"], row["outcome"], row["actor_kind"]) == ("auth.login", "denied",
                                                                   "anonymous")
    assert row["target_id"] == uid and row["actor_name"] is None
    # an unknown email leaves no trace of what was typed
    typed = f"nobody{uuid.uuid4().hex[:6]}@example.org"
    r = anon.post("/v1/auth/login", {"email": typed, "password": PASSWORD})
    problem(r, 401)
    row = row_of(admin, r)
    assert row["target_id"] is None
    assert typed not in json.dumps(all_rows(admin))
    assert PASSWORD not in json.dumps(all_rows(admin))


def test_cli_key_creation_is_recorded(server, admin):
    key = new_key(server, "viewer", name="cli-made")
    kid = admin.as_(key).get("/v1/me").json()["id"]
    rows = all_rows(admin, action="key.create", target=kid)
    assert len(rows) == 1, rows
    assert rows[0]["actor_kind"] == "cli" and rows[0]["actor_name"]
    assert rows[0]["outcome"] == "ok" and rows[0]["detail"]["name"] == "cli-made"
    r = server.cli("admin", "revoke-key", "--key", kid)
    assert r.returncode == 0
    assert len(all_rows(admin, action="key.revoke", target=kid)) == 1


def test_filters(admin, world):
    rows = all_rows(admin, action="form.*", project=world["pid"])
    assert rows and all(x["action"].startswith("form.") for x in rows)
    assert all(x["project_id"] == world["pid"] for x in rows)
    denied = all_rows(admin, outcome="denied")
    assert denied and all(x["outcome"] == "denied" for x in denied)
    newest = all_rows(admin)[0]
    assert all_rows(admin, since=newest["at"])[-1]["at"] >= newest["at"]
    assert not all_rows(admin, until="1970-01-01T00:00:01Z")
    problem(admin.get("/v1/audit", params={"since": "yesterday"}), 400)
    problem(admin.get("/v1/audit", params={"outcome": "maybe"}), 400)
    # newest first
    ids = [x["id"] for x in all_rows(admin)]
    assert ids == sorted(ids, reverse=True)


def test_only_admins_read_the_log(server, admin, world):
    for role in ("viewer", "editor", "reviewer"):
        c = admin.as_(new_key(server, role, world["pid"], name=f"audit-{role}"))
        problem(c.get("/v1/audit"), 403)
        problem(c.get("/v1/audit/export"), 403)
    problem(admin.as_(None).get("/v1/audit"), 401)
    # a project's admin reads its project's rows only
    padmin = admin.as_(new_key(server, "admin", world["pid"], name="audit-padmin"))
    rows = all_rows(padmin)
    assert rows and all(x["project_id"] == world["pid"] for x in rows)
    other = make_project(admin, "Not theirs")
    problem(padmin.get("/v1/audit", params={"project": other}), 404)


def test_export_is_json_lines_matching_the_list(admin, world):
    r = admin.get("/v1/audit/export", params={"project": world["pid"]})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in r.headers["Content-Disposition"]
    assert r.text.endswith("\n")
    lines = [json.loads(line) for line in r.text.splitlines()]
    listed = all_rows(admin, project=world["pid"])
    # rows written after the export may be listed too: the export is a prefix in time
    assert lines == listed[len(listed) - len(lines):]
    assert len(lines) > 5


def test_metric_counts_outcomes(admin):
    text = admin.get("/metrics").text
    for outcome in ("ok", "denied", "failed"):
        line = [x for x in text.splitlines()
                if x.startswith(f'formd_audit_events_total{{outcome="{outcome}"}}')]
        assert line and float(line[0].split()[-1]) > 0, outcome


def test_rows_cannot_be_changed_in_the_database(server, admin):
    assert all_rows(admin)
    with pytest.raises(Exception) as e:
        server.sql("UPDATE audit_log SET outcome = 'ok'")
    assert "append-only" in str(e.value)
    with pytest.raises(Exception) as e:
        server.sql("DELETE FROM audit_log")
    assert "append-only" in str(e.value)
    if PG_URL:
        with pytest.raises(Exception):
            server.sql("TRUNCATE audit_log")
    assert server.sql("SELECT COUNT(*) FROM audit_log")[0][0] != "0"


def test_ai_and_analytics_actions(admin, me, world):
    r = admin.post(f"/v1/forms/{world['fid']}/ai/extract", {"text": "ada@example.org, 36"})
    check(admin, me, r, "form.ai.extract", "form", world["fid"], world["pid"])
    r = admin.post("/v1/ai/generate-form", {"description": "a contact form with an email"})
    check(admin, me, r, "ai.generate-form")
    r = admin.post("/v1/analytics/query", {"sql": "SELECT 1 AS one"})
    check(admin, me, r, "analytics.query")


def test_a_bad_body_is_recorded_as_failed(admin, anon):
    r = anon.post("/v1/auth/login", raw="{not json", headers={"Content-Type": "application/json"})
    problem(r, 400)
    row = row_of(admin, r)
    assert (row["action"], row["outcome"], row["actor_kind"]) == ("auth.login", "failed",
                                                                   "anonymous")


def test_the_first_admin_key_is_recorded_as_made_by_the_system(admin, me):
    rows = all_rows(admin, action="key.create", target=me["id"])
    assert len(rows) == 1, rows
    assert (rows[0]["actor_kind"], rows[0]["outcome"]) == ("system", "ok")
