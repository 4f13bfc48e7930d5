"""Spam protection of public forms: honeypot field and minimum fill time.

Spam is answered 201 like anything else, stored with spam: true, and left
out of lists, webhooks, analytics and exports unless asked for.
"""
import csv
import io
import os
import tempfile
import time

import pytest
import requests

from conftest import ASAN, Client, Server, make_form, make_project, problem, publish
from webhook_receiver import Receiver

GOOD = {"email": "a@b.org", "age": 30}


@pytest.fixture(scope="module")
def srv():
    with tempfile.TemporaryDirectory(prefix="formd-spam-") as d:
        s = Server(os.path.join(d, "data"), ["--allow-private-targets"]).start()
        s.admin = Client(s, s.admin_key)
        s.pid = make_project(s.admin, "Spam")
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


def new_form(server, slug, **settings):
    f = make_form(server.admin, server.pid, slug=slug, settings=settings)
    publish(server.admin, f["id"])
    return f


def fill_token(server, slug):
    r = requests.get(f"{server.url}/v1/public/forms/{slug}", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["fill_token"]


def submit(server, slug, data=GOOD, **extra):
    body = {"data": data}
    body.update(extra)
    r = requests.post(f"{server.url}/v1/public/forms/{slug}/submissions", json=body, timeout=30)
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"id", "form_id", "form_version", "created_at"}
    return r.json()["id"]


def stored(server, sid):
    r = server.admin.get(f"/v1/submissions/{sid}")
    assert r.status_code == 200, r.text
    return r.json()


def listed(server, form, q=""):
    r = server.admin.get(f"/v1/forms/{form['id']}/submissions?limit=200{q}")
    assert r.status_code == 200, r.text
    return {s["id"] for s in r.json()["items"]}


def test_honeypot(srv):
    f = new_form(srv, "sp-honey", honeypot="website")
    clean = submit(srv, "sp-honey", dict(GOOD, website=""))
    spam = submit(srv, "sp-honey", dict(GOOD, website="http://buy.example"))
    assert stored(srv, clean)["spam"] is False
    s = stored(srv, spam)
    assert s["spam"] is True
    # The honeypot member is never stored, filled in or not.
    assert s["data"] == GOOD and stored(srv, clean)["data"] == GOOD
    # Without the member at all: not spam.
    assert stored(srv, submit(srv, "sp-honey"))["spam"] is False
    # Spam still has to match the schema: a bot learns nothing from the answer.
    r = requests.post(f"{srv.url}/v1/public/forms/sp-honey/submissions",
                      json={"data": {"website": "x", "age": 3}}, timeout=30)
    problem(r, 422)
    assert listed(srv, f) >= {clean} and spam not in listed(srv, f)


def test_honeypot_must_not_be_a_schema_field(srv):
    r = srv.admin.post(f"/v1/projects/{srv.pid}/forms",
                       {"name": "X", "fields": [{"name": "website", "type": "text"}],
                        "settings": {"honeypot": "website"}})
    problem(r, 400)
    assert "honeypot" in r.json()["detail"]


def test_min_fill_time(srv):
    new_form(srv, "sp-slow", min_fill_seconds=3600)
    new_form(srv, "sp-fast", min_fill_seconds=1)
    # No token, or one just made for a form that takes an hour: spam.
    assert stored(srv, submit(srv, "sp-slow"))["spam"] is True
    assert stored(srv, submit(srv, "sp-slow", fill_token=fill_token(srv, "sp-slow")))["spam"]
    # A token older than the minimum: not spam.
    tok = fill_token(srv, "sp-fast")
    time.sleep(1.1)
    assert stored(srv, submit(srv, "sp-fast", fill_token=tok))["spam"] is False
    # A forged token, a token of another form, garbage: spam.
    issued, mac = tok.split(".")
    forged = f"{int(issued) - 3600 * 1000}.{mac}"
    assert stored(srv, submit(srv, "sp-fast", fill_token=forged))["spam"] is True
    other = fill_token(srv, "sp-slow")
    time.sleep(1.1)
    assert stored(srv, submit(srv, "sp-fast", fill_token=other))["spam"] is True
    for bad in ["", "x", "1.", ".abc", "12345.AAAA"]:
        assert stored(srv, submit(srv, "sp-fast", fill_token=bad))["spam"] is True
    # A form without min_fill_seconds ignores the token.
    new_form(srv, "sp-none")
    assert stored(srv, submit(srv, "sp-none", fill_token="junk"))["spam"] is False
    # fill_token must be a string.
    r = requests.post(f"{srv.url}/v1/public/forms/sp-none/submissions",
                      json={"data": GOOD, "fill_token": 5}, timeout=30)
    problem(r, 400)


def test_fill_tokens_differ_and_the_cached_form_is_still_the_form(srv):
    new_form(srv, "sp-cache")
    a = requests.get(f"{srv.url}/v1/public/forms/sp-cache", timeout=30).json()
    time.sleep(0.01)
    b = requests.get(f"{srv.url}/v1/public/forms/sp-cache", timeout=30).json()
    ta, tb = a.pop("fill_token"), b.pop("fill_token")
    assert ta and tb and ta != tb
    assert a == b and a["slug"] == "sp-cache"


def test_lists_and_review(srv, receiver):
    f = new_form(srv, "sp-list", honeypot="hp")
    r = srv.admin.post(f"/v1/forms/{f['id']}/webhooks",
                       {"url": receiver.url, "events": ["submission.created"]})
    assert r.status_code == 201, r.text
    receiver.secret = r.json()["secret"]
    spam = submit(srv, "sp-list", dict(GOOD, hp="x"))
    clean = submit(srv, "sp-list")
    assert listed(srv, f) == {clean}
    assert listed(srv, f, "&spam=true") == {clean, spam}
    assert listed(srv, f, "&spam=only") == {spam}
    problem(srv.admin.get(f"/v1/forms/{f['id']}/submissions?spam=maybe"), 400)
    # Webhooks: the clean one is delivered, the spam one never.
    receiver.wait_for(lambda got: any(g["body"]["data"]["id"] == clean for g in got))
    # A reviewer says it is not spam: it joins the list and subscribers hear of it.
    r = srv.admin.patch(f"/v1/submissions/{spam}", {"spam": False})
    assert r.status_code == 200, r.text
    assert r.json()["spam"] is False
    assert listed(srv, f) == {clean, spam}
    got = receiver.wait_for(lambda got: any(g["body"]["data"]["id"] == spam for g in got))
    ids = [g["body"]["data"]["id"] for g in got]
    assert ids.count(spam) == 1
    # And back to spam.
    assert srv.admin.patch(f"/v1/submissions/{spam}", {"spam": True}).json()["spam"] is True
    assert listed(srv, f) == {clean}
    problem(srv.admin.patch(f"/v1/submissions/{spam}", {"spam": "yes"}), 400)


def test_webhooks_skip_spam(srv, receiver):
    f = new_form(srv, "sp-hook", honeypot="hp")
    r = srv.admin.post(f"/v1/forms/{f['id']}/webhooks",
                       {"url": receiver.url, "events": ["submission.created"]})
    receiver.secret = r.json()["secret"]
    spam = submit(srv, "sp-hook", dict(GOOD, hp="x"))
    clean = submit(srv, "sp-hook")
    got = receiver.wait_for(lambda got: any(g["body"]["data"]["id"] == clean for g in got))
    assert spam not in [g["body"]["data"]["id"] for g in got]
    # No delivery was even queued for it.
    count = lambda sid: srv.sql("SELECT count(*) FROM tasks WHERE payload LIKE ?",
                                (f"%{sid}%",))[0][0]
    assert count(spam) == "0" and count(clean) != "0"


def export(srv, f, **body):
    body.setdefault("format", "csv")
    r = srv.admin.post(f"/v1/forms/{f['id']}/exports", body)
    assert r.status_code == 202, r.text
    e = r.json()
    deadline = time.time() + (120 if ASAN else 60)
    while e["state"] == "pending" and time.time() < deadline:
        time.sleep(0.1)
        e = srv.admin.get(f"/v1/exports/{e['id']}").json()
    assert e["state"] == "ready", e
    r = srv.admin.get(f"/v1/exports/{e['id']}/download")
    assert r.status_code == 200
    return {row["submission_id"]
            for row in csv.DictReader(io.StringIO(r.content.decode("utf-8"), newline=""))}


def test_exports_and_analytics_leave_spam_out(srv):
    f = new_form(srv, "sp-export", honeypot="hp")
    spam = submit(srv, "sp-export", dict(GOOD, hp="x"))
    clean = submit(srv, "sp-export")
    assert export(srv, f) == {clean}
    assert export(srv, f, include_spam=True) == {clean, spam}
    problem(srv.admin.post(f"/v1/forms/{f['id']}/exports",
                           {"format": "csv", "include_spam": "yes"}), 400)
    a = srv.admin.get(f"/v1/forms/{f['id']}/analytics?fresh=true")
    assert a.status_code == 200, a.text
    assert a.json()["total"] == 1
    # Not spam any more: analytics count it at the next sync.
    assert srv.admin.patch(f"/v1/submissions/{spam}", {"spam": False}).status_code == 200
    assert srv.admin.get(f"/v1/forms/{f['id']}/analytics?fresh=true").json()["total"] == 2
    assert export(srv, f) == {clean, spam}


def test_spam_metric(srv):
    new_form(srv, "sp-metric", honeypot="hp")
    def count():
        for line in requests.get(srv.url + "/metrics", timeout=30).text.splitlines():
            if line.startswith("formd_spam_submissions_total"):
                return float(line.split()[-1])
        return 0.0
    before = count()
    submit(srv, "sp-metric", dict(GOOD, hp="x"))
    assert count() == before + 1
