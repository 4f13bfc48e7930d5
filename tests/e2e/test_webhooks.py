"""Webhooks end to end: a real receiver on loopback checks every signature."""
import os
import tempfile
import time

import pytest
import requests

from conftest import ASAN, Client, Server, make_form, make_project, problem, publish
from webhook_receiver import Receiver

DATA = {"data": {"email": "a@b.org", "age": 30}}


@pytest.fixture(scope="module")
def hooked():
    """A server that may deliver to loopback, with a published form."""
    with tempfile.TemporaryDirectory(prefix="formd-hooks-") as d:
        s = Server(os.path.join(d, "data"), ["--allow-private-targets"]).start()
        admin = Client(s, s.admin_key)
        s.admin = admin
        s.pid = make_project(admin, "Hooks")
        yield s
        rc = s.stop()
        log = s.read_log()
        assert rc == 0, log
        if ASAN:
            assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def new_form(server, slug):
    f = make_form(server.admin, server.pid, slug=slug)
    publish(server.admin, f["id"])
    return f


def add_hook(server, form, receiver, events=("submission.created",), **extra):
    body = {"url": receiver.url, "events": list(events)}
    body.update(extra)
    r = server.admin.post(f"/v1/forms/{form['id']}/webhooks", body)
    assert r.status_code == 201, r.text
    hook = r.json()
    receiver.secret = hook["secret"]
    return hook


def submit(server, slug, key=None):
    h = {"Idempotency-Key": key} if key else {}
    r = requests.post(f"{server.url}/v1/public/forms/{slug}/submissions", json=DATA, headers=h,
                      timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def delivery_log(server, hook, n, seconds=10):
    """The webhook's delivery log once it has n attempts: an attempt is logged
    as its task's outcome commits, just after the receiver has answered."""
    deadline = time.time() + seconds
    while True:
        items = server.admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]
        if len(items) >= n or time.time() > deadline:
            return items
        time.sleep(0.05)


def test_a_submission_is_delivered_signed(hooked, receiver):
    f = new_form(hooked, "hook-signed")
    hook = add_hook(hooked, f, receiver)
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in hooked.admin.get(f"/v1/webhooks/{hook['id']}").json()
    sid = submit(hooked, "hook-signed")
    got = receiver.wait_for(lambda g: len(g) == 1)[0]
    assert got["valid"], got
    assert got["msg_id"].startswith("msg_")
    assert got["content_type"] == "application/json"
    assert got["body"]["type"] == "submission.created"
    assert got["body"]["data"]["id"] == sid
    assert got["body"]["data"]["data"] == DATA["data"]
    deliveries = delivery_log(hooked, hook, 1)
    assert deliveries[0]["status"] == 200 and deliveries[0]["error"] is None


def test_5xx_is_retried_under_the_same_webhook_id(hooked, receiver):
    f = new_form(hooked, "hook-retry")
    hook = add_hook(hooked, f, receiver)
    receiver.script = [500, 503]
    submit(hooked, "hook-retry")
    got = receiver.wait_for(lambda g: len(g) == 3, seconds=30)
    assert [g["status"] for g in got] == [500, 503, 200]
    assert len({g["msg_id"] for g in got}) == 1
    assert all(g["valid"] for g in got)
    attempts = delivery_log(hooked, hook, 3)
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3]
    assert sorted(a["status"] for a in attempts) == [200, 500, 503]


def test_429_honours_retry_after(hooked, receiver):
    f = new_form(hooked, "hook-429")
    add_hook(hooked, f, receiver)
    receiver.script = [429]
    receiver.extra_headers = {"Retry-After": "1"}
    submit(hooked, "hook-429")
    got = receiver.wait_for(lambda g: len(g) == 2, seconds=30)
    assert [g["status"] for g in got] == [429, 200]


def test_4xx_is_final(hooked, receiver):
    f = new_form(hooked, "hook-400")
    hook = add_hook(hooked, f, receiver)
    receiver.default = 400
    submit(hooked, "hook-400")
    receiver.wait_for(lambda g: len(g) == 1)
    time.sleep(2.5)                      # longer than the first backoff
    assert len(receiver.got()) == 1
    d = delivery_log(hooked, hook, 1)[0]
    task = hooked.admin.get(f"/v1/tasks/{d['task_id']}").json()
    assert task["state"] == "discarded" and "400" in task["error"]
    # Manual redelivery is a retry of the delivery's task.
    receiver.default = 200
    assert hooked.admin.post(f"/v1/tasks/{d['task_id']}/retry").status_code == 200
    got = receiver.wait_for(lambda g: len(g) == 2)
    assert got[1]["msg_id"] == got[0]["msg_id"]


def test_every_submission_event(hooked, receiver):
    f = new_form(hooked, "hook-events")
    add_hook(hooked, f, receiver, events=["submission.created", "submission.updated",
                                          "submission.deleted", "submission.restored",
                                          "submission.purged"])
    sid = submit(hooked, "hook-events")
    a = hooked.admin
    assert a.patch(f"/v1/submissions/{sid}", {"status": "approved"}).status_code == 200
    assert a.delete(f"/v1/submissions/{sid}").status_code == 204
    assert a.post(f"/v1/submissions/{sid}/restore").status_code == 200
    assert a.post(f"/v1/submissions/{sid}/purge").status_code == 204
    got = receiver.wait_for(lambda g: len(g) == 5)
    types = sorted(g["body"]["type"] for g in got)
    assert types == ["submission.created", "submission.deleted", "submission.purged",
                     "submission.restored", "submission.updated"]
    updated = [g for g in got if g["body"]["type"] == "submission.updated"][0]
    assert updated["body"]["data"]["status"] == "approved"
    assert len({g["msg_id"] for g in got}) == 5
    assert all(g["valid"] for g in got)


def test_only_subscribed_events_are_sent(hooked, receiver):
    f = new_form(hooked, "hook-only")
    add_hook(hooked, f, receiver, events=["submission.deleted"])
    sid = submit(hooked, "hook-only")
    time.sleep(0.5)
    assert receiver.got() == []
    assert hooked.admin.delete(f"/v1/submissions/{sid}").status_code == 204
    got = receiver.wait_for(lambda g: len(g) == 1)
    assert got[0]["body"]["type"] == "submission.deleted"


def test_a_given_secret_is_used(hooked, receiver):
    f = new_form(hooked, "hook-secret")
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    hook = add_hook(hooked, f, receiver, secret=secret)
    assert hook["secret"] == secret
    submit(hooked, "hook-secret")
    assert receiver.wait_for(lambda g: len(g) == 1)[0]["valid"]


def test_deleted_webhook_gets_nothing_more(hooked, receiver):
    f = new_form(hooked, "hook-deleted")
    hook = add_hook(hooked, f, receiver)
    assert hooked.admin.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    problem(hooked.admin.get(f"/v1/webhooks/{hook['id']}"), 404, "not_found")
    submit(hooked, "hook-deleted")
    time.sleep(0.5)
    assert receiver.got() == []


@pytest.mark.parametrize("body, why", [
    ({"url": "ftp://x.example/", "events": ["submission.created"]}, "http"),
    ({"url": "http://user@x.example/", "events": ["submission.created"]}, ""),
    ({"url": "not a url", "events": ["submission.created"]}, ""),
    ({"url": 5, "events": ["submission.created"]}, "url"),
    ({"url": "http://x.example/", "events": []}, "events"),
    ({"url": "http://x.example/", "events": ["form.created"]}, "unknown event"),
    ({"url": "http://x.example/", "events": ["submission.created", "submission.created"]},
     "twice"),
    ({"url": "http://x.example/", "events": ["submission.created"], "secret": "nope"}, ""),
    ({"url": "http://x.example/", "events": ["submission.created"], "extra": 1}, "unknown"),
])
def test_bad_webhooks_are_400(hooked, body, why):
    f = new_form(hooked, f"hook-bad-{abs(hash(str(body))) % 100000}")
    p = problem(hooked.admin.post(f"/v1/forms/{f['id']}/webhooks", body), 400, "invalid")
    assert why in p["detail"]


def test_webhook_roles(hooked, receiver):
    f = new_form(hooked, "hook-roles")
    hook = add_hook(hooked, f, receiver)
    key = hooked.cli("admin", "create-key", "--name", "v", "--role", "viewer", "--project",
                     hooked.pid).stdout.strip()
    viewer = hooked.admin.as_(key)
    assert viewer.get(f"/v1/forms/{f['id']}/webhooks").status_code == 200
    assert viewer.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 200
    problem(viewer.post(f"/v1/forms/{f['id']}/webhooks",
                        {"url": receiver.url, "events": ["submission.created"]}), 403)
    problem(viewer.delete(f"/v1/webhooks/{hook['id']}"), 403)


def test_private_targets_are_refused_by_default(admin, anon):
    # The module's default server runs without --allow-private-targets.
    receiver = Receiver()
    try:
        pid = make_project(admin, "No private")
        f = make_form(admin, pid, slug="hook-private")
        publish(admin, f["id"])
        hook = admin.post(f"/v1/forms/{f['id']}/webhooks",
                          {"url": receiver.url, "events": ["submission.created"]}).json()
        r = anon.post("/v1/public/forms/hook-private/submissions", DATA)
        assert r.status_code == 201
        deadline = time.time() + 15
        items = []
        while time.time() < deadline and not items:
            items = admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]
            time.sleep(0.05)
        assert items and "loopback" in items[0]["error"], items
        task = admin.get(f"/v1/tasks/{items[0]['task_id']}").json()
        assert task["state"] == "discarded"
        assert receiver.got() == []
    finally:
        receiver.close()
