"""Rate limits per route class, login throttling and per-form quotas.

The server runs with small limits (--rate-* options) so that a burst goes
over them; recovery is waited for by polling, not by timing thresholds.
"""
import os
import tempfile
import time
import uuid

import pytest
import requests

from conftest import ASAN, Client, Server, make_form, make_project, problem, publish

PASSWORD = "correct horse battery staple"
DATA = {"data": {"email": "a@b.org", "age": 30}}


@pytest.fixture(scope="module")
def limited():
    """A server with tiny limits: 3 public requests a second (burst 3), and so on."""
    with tempfile.TemporaryDirectory(prefix="formd-rl-") as d:
        s = Server(os.path.join(d, "data"),
                   ["--rate-public", "3/1", "--rate-management", "1000/1",
                    "--rate-ai", "2/2", "--rate-login", "1000/1",
                    "--trusted-proxies", "127.0.0.1"]).start()
        s.admin = Client(s, s.admin_key)
        s.pid = make_project(s.admin, "Limits")
        yield s
        rc = s.stop()
        log = s.read_log()
        assert rc == 0, log
        if ASAN:
            assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log


def new_form(server, slug, **settings):
    f = make_form(server.admin, server.pid, slug=slug, settings=settings or None)
    publish(server.admin, f["id"])
    return f


def post(server, slug, xff=None, body=DATA):
    h = {"X-Forwarded-For": xff} if xff else {}
    return requests.post(f"{server.url}/v1/public/forms/{slug}/submissions", json=body,
                         headers=h, timeout=30)


def until_not_429(fn, seconds=30):
    """Calls fn until it answers something else than 429; returns that answer."""
    deadline = time.time() + seconds
    while True:
        r = fn()
        if r.status_code != 429 or time.time() > deadline:
            return r
        time.sleep(0.2)


def over_limit(fn, tries=50):
    """Calls fn until it answers 429 (at most tries times); returns that answer."""
    for _ in range(tries):
        r = fn()
        if r.status_code == 429:
            return r
    raise AssertionError("never limited")


def test_public_burst_gets_429_with_retry_after_then_recovers(limited):
    new_form(limited, "rl-public")
    ip = "203.0.113.7"   # its own bucket, through the trusted proxy (loopback)
    codes = [post(limited, "rl-public", xff=ip).status_code for _ in range(3)]
    assert codes == [201, 201, 201]
    r = post(limited, "rl-public", xff=ip)
    p = problem(r, 429, "rate_limited")
    assert "Retry-After" in r.headers
    assert int(r.headers["Retry-After"]) >= 1
    assert "Retry-After" in p["detail"]
    # Another address is not affected.
    assert post(limited, "rl-public", xff="203.0.113.8").status_code == 201
    # After the window the same address gets through again.
    assert until_not_429(lambda: post(limited, "rl-public", xff=ip)).status_code == 201
    m = requests.get(limited.url + "/metrics", timeout=30).text
    assert 'formd_rate_limited_total{class="public"}' in m


def test_public_form_reads_share_the_public_bucket(limited):
    new_form(limited, "rl-read")
    ip = "198.51.100.20"
    get = lambda: requests.get(f"{limited.url}/v1/public/forms/rl-read",
                               headers={"X-Forwarded-For": ip}, timeout=30)
    r = over_limit(get)
    problem(r, 429)
    assert until_not_429(get).status_code == 200


def test_x_forwarded_for_uses_the_rightmost_untrusted_address(limited):
    new_form(limited, "rl-xff")
    # A client cannot pick a fresh bucket by prepending addresses: the rightmost
    # untrusted one (192.0.2.50) is the client.
    r = over_limit(lambda: post(limited, "rl-xff", xff=f"10.9.{uuid.uuid4().int % 250}.1, "
                                                        "192.0.2.50"))
    problem(r, 429)
    # A trusted proxy on the right is skipped.
    problem(post(limited, "rl-xff", xff="192.0.2.50, 127.0.0.1"), 429)


def test_xff_is_ignored_from_an_untrusted_peer():
    with tempfile.TemporaryDirectory(prefix="formd-rl2-") as d:
        s = Server(os.path.join(d, "data"), ["--rate-public", "2/60"]).start()
        try:
            admin = Client(s, s.admin_key)
            f = make_form(admin, make_project(admin), slug="rl-untrusted")
            publish(admin, f["id"])
            codes = [post(s, "rl-untrusted", xff=f"203.0.113.{i}").status_code
                     for i in range(4)]
            # Every request counts against the peer (127.0.0.1), whatever XFF says.
            assert codes[:2] == [201, 201] and codes[2:] == [429, 429], codes
        finally:
            assert s.stop() == 0


def test_ai_routes_are_limited_per_principal(limited):
    f = new_form(limited, "rl-ai")
    key = limited.cli("admin", "create-key", "--name", "ai", "--role", "editor", "--project",
                      limited.pid).stdout.strip()
    c = limited.admin.as_(key)
    call = lambda: c.post(f"/v1/forms/{f['id']}/ai/extract", {"text": "a@b.org 30"})
    r = over_limit(call, tries=10)
    problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1
    # Another principal has its own bucket.
    assert limited.admin.post(f"/v1/forms/{f['id']}/ai/extract",
                              {"text": "a@b.org 30"}).status_code == 202


def test_bad_options_are_refused(tmp_path):
    from conftest import BIN, free_port
    import subprocess
    for opt, bad in [("--rate-public", "ten"), ("--rate-login", "5/0"),
                     ("--trusted-proxies", "proxy.example")]:
        r = subprocess.run([BIN, "serve", opt, bad, "--listen", f"127.0.0.1:{free_port()}",
                            "--data-dir", str(tmp_path / "d")], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode != 0
        assert opt[2:] in r.stderr, r.stderr


# ---- login throttling ----

def new_user(server):
    email = f"u{uuid.uuid4().hex[:8]}@example.org"
    server.cli("admin", "create-user", "--email", email, "--password-file", "-", "--role",
               "viewer", input=PASSWORD + "\n")
    return email


def login(server, email, password, ip):
    return requests.post(f"{server.url}/v1/auth/login",
                         json={"email": email, "password": password},
                         headers={"X-Forwarded-For": ip}, timeout=30)


def failures_until_throttled(server, email, ip):
    """Wrong passwords until a 429: the answers before it and the 429 itself."""
    answers = []
    for _ in range(10):
        r = login(server, email, "wrong password!", ip)
        answers.append(r)
        if r.status_code == 429:
            return answers
    raise AssertionError([a.status_code for a in answers])


def test_login_throttling_is_the_same_for_known_and_unknown_emails(limited):
    known = new_user(limited)
    unknown = f"nobody{uuid.uuid4().hex[:8]}@example.org"
    a = failures_until_throttled(limited, known, "192.0.2.101")
    b = failures_until_throttled(limited, unknown, "192.0.2.102")
    assert [r.status_code for r in a] == [r.status_code for r in b]
    assert [r.status_code for r in a][:5] == [401] * 5
    assert [r.json()["detail"] for r in a] == [r.json()["detail"] for r in b]
    assert a[-1].headers["Retry-After"] == b[-1].headers["Retry-After"]
    # Throttled, even the right password is refused until the delay is over.
    r = login(limited, known, PASSWORD, "192.0.2.103")
    assert r.status_code == 429, r.text   # asked at once, within the 1 s delay
    assert r.json()["detail"] == a[-1].json()["detail"]
    # After the delay the right password works and resets the account's count.
    r = until_not_429(lambda: login(limited, known, PASSWORD, "192.0.2.104"))
    assert r.status_code == 200, r.text
    assert login(limited, known, "wrong password!", "192.0.2.105").status_code == 401


def test_login_throttling_is_per_address_too(limited):
    ip = "192.0.2.150"
    for _ in range(20):
        assert login(limited, f"x{uuid.uuid4().hex[:6]}@example.org", "wrong password!",
                     ip).status_code == 401
    # The address failed twenty times (each account once): another account waits too.
    r = login(limited, f"y{uuid.uuid4().hex[:6]}@example.org", "wrong password!", ip)
    problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1


def test_login_rate_limit_per_address():
    with tempfile.TemporaryDirectory(prefix="formd-rl3-") as d:
        s = Server(os.path.join(d, "data"), ["--rate-login", "2/60"]).start()
        try:
            codes = [requests.post(f"{s.url}/v1/auth/login",
                                   json={"email": "a@b.org", "password": "x"},
                                   timeout=30).status_code for _ in range(3)]
            assert codes == [401, 401, 429], codes
        finally:
            assert s.stop() == 0


# ---- per-form quotas ----

def test_quota_per_minute(limited):
    new_form(limited, "rl-qmin", quota_per_minute=2)
    ips = iter(f"198.18.0.{i}" for i in range(1, 200))
    assert post(limited, "rl-qmin", xff=next(ips)).status_code == 201
    assert post(limited, "rl-qmin", xff=next(ips)).status_code == 201
    r = post(limited, "rl-qmin", xff=next(ips))
    p = problem(r, 429, "rate_limited")
    assert "per minute" in p["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # Invalid submissions are refused before the quota and do not use it up.
    problem(post(limited, "rl-qmin", xff=next(ips), body={"data": {"age": 1}}), 422)


def test_quota_per_day_counts_the_database(limited):
    f = new_form(limited, "rl-qday", quota_per_day=3)
    ips = iter(f"198.18.1.{i}" for i in range(1, 200))
    for _ in range(3):
        assert post(limited, "rl-qday", xff=next(ips)).status_code == 201
    r = post(limited, "rl-qday", xff=next(ips))
    p = problem(r, 429, "rate_limited")
    assert "per day" in p["detail"]
    assert int(r.headers["Retry-After"]) > 23 * 3600
    # A refused submission takes no place of the form's limit.
    assert limited.admin.get(f"/v1/forms/{f['id']}").json()["submission_count"] == 3
    # Submissions older than a day no longer count: age one of them in the database.
    old = int(time.time() * 1000) - 25 * 3600 * 1000
    limited.sql("UPDATE submissions SET created_at = ? WHERE id IN (SELECT id FROM submissions "
                "WHERE form_id = ? ORDER BY id LIMIT 1)", (old, f["id"]))
    assert post(limited, "rl-qday", xff=next(ips)).status_code == 201
    problem(post(limited, "rl-qday", xff=next(ips)), 429)


def test_quota_per_day_survives_a_restart():
    with tempfile.TemporaryDirectory(prefix="formd-rl4-") as d:
        s = Server(os.path.join(d, "data")).start()
        admin = Client(s, s.admin_key)
        f = make_form(admin, make_project(admin), slug="rl-restart",
                      settings={"quota_per_day": 2})
        publish(admin, f["id"])
        assert [post(s, "rl-restart").status_code for _ in range(2)] == [201, 201]
        assert s.stop() == 0
        s2 = Server(os.path.join(d, "data")).start()
        try:
            problem(post(s2, "rl-restart"), 429)
        finally:
            assert s2.stop() == 0


@pytest.mark.parametrize("settings", [
    {"quota_per_minute": 0}, {"quota_per_day": -1}, {"quota_per_day": "10"},
    {"min_fill_seconds": 86401}, {"honeypot": ""}, {"honeypot": "a b"},
])
def test_bad_quota_and_spam_settings(limited, settings):
    r = limited.admin.post(f"/v1/projects/{limited.pid}/forms",
                           {"name": "Bad", "fields": [{"name": "q", "type": "text"}],
                            "settings": settings})
    problem(r, 400)
