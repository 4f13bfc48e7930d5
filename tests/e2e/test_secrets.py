"""Secrets: never in a log line or an answer; never on the command line; secret
files readable by their owner only; the key files formd writes are 0600."""
import os
import stat
import subprocess
import time
import uuid

import pytest

from conftest import BIN, Client, Server, make_form, make_project, publish, stop_clean

PASSWORD = "Tr0ub4dor-and-3-horses"
WRONG = "Wr0ng-pa55word-xyzzy"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXdlYmhvb2sta2V5LTMyLWJ5dGVzLWxvbmch"
BAD_WEBHOOK_SECRET = "whsec_***not-base64-but-secret-4711***"


def run(*args, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))


def test_no_secret_in_logs_or_answers(tmp_path):
    s = Server(str(tmp_path / "d"), ["--log-level", "debug", "--allow-private-targets"]).start()
    secrets, answers = [], []
    try:
        admin = Client(s, s.admin_key)
        secrets.append(s.admin_key)
        answers.append(admin.get("/v1/projects"))
        # Keys: made, used, mistyped, unknown, garbage.
        made = admin.post("/v1/keys", {"name": "logged", "role": "admin"}).json()["key"]
        secrets.append(made)
        answers.append(admin.as_(made).get("/v1/me"))
        typo = made[:-1] + ("a" if made[-1] != "a" else "b")
        unknown = "fmd_zzzzzzzzzz_" + "Q" * 32
        garbage = "not-a-token-" + uuid.uuid4().hex
        for bad in (typo, unknown, garbage, "fms_" + "x" * 43):
            secrets.append(bad)
            answers.append(admin.as_(bad).get("/v1/me"))
        # Logins: right and wrong passwords, and one in a malformed body.
        email = f"log{uuid.uuid4().hex[:6]}@example.org"
        s.cli("admin", "create-user", "--email", email, "--password-file", "-",
              "--role", "admin", input=PASSWORD + "\n")
        anon = Client(s)
        secrets += [PASSWORD, WRONG]
        answers.append(anon.post("/v1/auth/login", {"email": email, "password": WRONG}))
        answers.append(anon.post("/v1/auth/login", raw='{"email": "%s", "password": %s}'
                                 % (email, WRONG), headers={"Content-Type": "application/json"}))
        answers.append(anon.post("/v1/auth/login", raw='{"email": "x", "password": "%s\n"}'
                                 % WRONG, headers={"Content-Type": "application/json"}))
        r = anon.post("/v1/auth/login", {"email": email, "password": PASSWORD})
        assert r.status_code == 200
        token = r.json()["token"]
        secrets.append(token)
        answers.append(anon.as_(token).get("/v1/me"))
        # Webhooks: a given secret, a bad one, and failing deliveries signed with it.
        form = make_form(admin, make_project(admin, "Logs"))
        publish(admin, form["id"])
        secrets += [WEBHOOK_SECRET, BAD_WEBHOOK_SECRET]
        answers.append(admin.post(f"/v1/forms/{form['id']}/webhooks",
                                  {"url": "http://127.0.0.1:9/hook", "events": ["submission.created"],
                                   "secret": BAD_WEBHOOK_SECRET}))
        r = admin.post(f"/v1/forms/{form['id']}/webhooks",
                       {"url": "http://127.0.0.1:9/hook", "events": ["submission.created"],
                        "secret": WEBHOOK_SECRET})
        assert r.status_code == 201, r.text
        hook = r.json()["id"]
        assert anon.post(f"/v1/public/forms/{form['slug']}/submissions",
                         {"data": {"email": "ada@example.org", "age": 36}}).status_code == 201
        deadline = time.time() + 60
        while time.time() < deadline and not admin.get(
                f"/v1/webhooks/{hook}/deliveries").json()["items"]:
            time.sleep(0.1)
        assert admin.get(f"/v1/webhooks/{hook}/deliveries").json()["items"], "no delivery tried"
        assert anon.as_(token).post("/v1/auth/logout").status_code == 204
        answers.append(anon.as_(token).get("/v1/me"))
    finally:
        stop_clean(s)
    log = s.read_log()
    assert '"level":"debug"' in log                      # the request lines were logged
    for secret in secrets:
        assert secret not in log, f"a secret is in the log: {secret[:8]}..."
        for r in answers:
            assert secret not in r.text, (r.request.url, r.text)
        # A part long enough to matter neither.
        assert secret[len(secret) // 2:] not in log
    assert "Authorization" not in log and "Bearer" not in log


def test_password_on_the_command_line_is_refused(tmp_path):
    for flag in ("--db-url", "--database", "--database-url"):
        r = run("migrate", "status", "--data-dir", str(tmp_path / "d"),
                flag, "postgres://formd:hunter2-secret@127.0.0.1:1/formd")
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert "FORMD_" in lines[0] and "_FILE" in lines[0], lines[0]
        assert "hunter2" not in r.stderr and "hunter2" not in r.stdout


def test_a_key_file_option_is_refused_on_the_command_line(tmp_path):
    key = "k1:" + "A" * 43 + "="
    r = run("migrate", "status", "--data-dir", str(tmp_path / "d"), "--encryption-key", key)
    assert r.returncode != 0
    assert "FORMD_ENCRYPTION_KEY_FILE" in r.stderr and key not in r.stderr, r.stderr


def test_url_without_password_is_not_a_secret(tmp_path):
    r = run("migrate", "status", "--data-dir", str(tmp_path / "d"),
            "--database", "postgres://formd@127.0.0.1:1/formd")
    assert "_FILE" not in r.stderr, r.stderr            # refused only by the connection
    assert r.returncode != 0 and r.stderr, r           # which does fail: nothing listens on :1


def test_secret_files_must_be_private(tmp_path):
    f = tmp_path / "db_url"
    f.write_text("\n")                                   # empty: SQLite in the data directory
    d = str(tmp_path / "d")
    for mode in (0o644, 0o640, 0o604):
        os.chmod(f, mode)
        r = run("migrate", "status", "--data-dir", d, env={"FORMD_DB_URL_FILE": str(f)})
        assert r.returncode != 0
        assert r.stderr.strip().count("\n") == 0, r.stderr
        assert "FORMD_DB_URL_FILE" in r.stderr and f"chmod 600 '{f}'" in r.stderr, r.stderr
    for mode in (0o600, 0o400):
        os.chmod(f, mode)
        r = run("migrate", "status", "--data-dir", d, env={"FORMD_DB_URL_FILE": str(f)})
        assert r.returncode == 0, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_secret_files_of_another_user_are_refused(tmp_path):
    f = tmp_path / "db_url"
    f.write_text("\n")
    os.chmod(f, 0o600)
    os.chown(f, 12345, 12345)          # neither this user (root) nor root
    r = run("migrate", "status", "--data-dir", str(tmp_path / "d"),
            env={"FORMD_DB_URL_FILE": str(f)})
    assert r.returncode != 0
    assert "uid 12345" in r.stderr and "chown" in r.stderr, r.stderr


def test_admin_key_file_is_0600(tmp_path):
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    stale = d / "admin.key"
    stale.write_text("old\n")
    os.chmod(stale, 0o644)                               # left over, too open
    s = Server(str(d)).start()
    try:
        assert stat.S_IMODE(os.stat(stale).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
        assert Client(s, s.admin_key).get("/v1/me").status_code == 200
    finally:
        stop_clean(s)
