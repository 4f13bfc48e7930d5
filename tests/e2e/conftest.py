"""Fixtures that start the real formd on a temporary data directory.

Every test talks HTTP to a real server process. FORMD_BIN names the binary
(the Makefile sets it: build/formd, or build/asan/formd under sanitizers).

With FORMD_TEST_PG_URL (postgres://USER@HOST:PORT/DB, scripts/pg-cluster
prints one) every Server runs on PostgreSQL instead of SQLite: each data
directory gets a schema of its own in that database (cheaper than a database
each), made on first use and named after the directory, and the server and
its CLI calls get a URL whose search_path is it, as FORMD_DB_URL. Tests of
what only SQLite has (the file, backup, failfs) skip.
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FORMD_BIN", os.path.join(ROOT, "build", "formd"))
ASAN = os.environ.get("FORMD_ASAN") == "1"
PG_URL = os.environ.get("FORMD_TEST_PG_URL", "")

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite only (FORMD_TEST_PG_URL is set)")


def psql(url, sql):
    """Runs sql with psql against url; returns its output, rows as 'a|b' lines."""
    exe = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    r = subprocess.run([exe, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr}")
    return r.stdout


def pg_url_for(data_dir):
    """A URL for data_dir's own schema in FORMD_TEST_PG_URL's database, made if missing."""
    name = "formd_e2e_" + hashlib.sha1(os.path.realpath(data_dir).encode()).hexdigest()[:16]
    psql(PG_URL, f"CREATE SCHEMA IF NOT EXISTS {name}")
    return PG_URL + ("&" if "?" in PG_URL else "?") + "options=-csearch_path%3D" + name


def pg_env(data_dir):
    """Environment that points formd at data_dir's database ({} on SQLite)."""
    return {"FORMD_DB_URL": pg_url_for(data_dir)} if PG_URL else {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running formd serve process and a requests session pointed at it."""

    def __init__(self, data_dir, extra_args=(), env=None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(data_dir, "server.log")
        self.extra_args = list(extra_args)
        env = env or {}
        # A FORMD_DB_URL of the caller's (another node's database) wins over the directory's.
        self.env = dict(os.environ, **({} if "FORMD_DB_URL" in env else pg_env(data_dir)), **env)
        self.db_url = self.env.get("FORMD_DB_URL", "")
        self.proc = None

    def sql(self, query, params=()):
        """Runs query (? placeholders) on the server's database, SQLite or PostgreSQL.

        Returns the rows as tuples of strings ("" for NULL), as psql prints them."""
        if self.db_url:
            def literal(v):
                if v is None:
                    return "NULL"
                if isinstance(v, (int, float)):
                    return repr(v)
                return "'" + str(v).replace("'", "''") + "'"
            parts = query.split("?")
            assert len(parts) == len(params) + 1, "one parameter per ?"
            text = parts[0] + "".join(literal(v) + p for v, p in zip(params, parts[1:]))
            out = psql(self.db_url, text)
            return [tuple(line.split("|")) for line in out.splitlines() if line]
        import sqlite3
        with sqlite3.connect(os.path.join(self.data_dir, "formd.db"), timeout=30) as db:
            return [tuple("" if v is None else str(v) for v in row)
                    for row in db.execute(query, params).fetchall()]

    def start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir]
            + self.extra_args,
            stdout=self.log, stderr=self.log, env=self.env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("formd exited at start:\n" + self.read_log())
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("formd did not answer /healthz:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else 0
        self.log.close()
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    @property
    def admin_key(self):
        with open(os.path.join(self.data_dir, "admin.key")) as f:
            return f.read().strip()

    def cli(self, *args, input=None, check=True):
        r = subprocess.run([BIN, *args, "--data-dir", self.data_dir], input=input,
                           capture_output=True, text=True, env=self.env)
        if check and r.returncode != 0:
            raise RuntimeError(f"formd {' '.join(args)} failed: {r.stderr}")
        return r


class Client:
    """HTTP helpers bound to one server and, optionally, one token."""

    def __init__(self, server, token=None):
        self.server = server
        self.token = token
        self.http = requests.Session()

    def headers(self, extra=None):
        h = {}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if extra:
            h.update(extra)
        return h

    def req(self, method, path, body=None, headers=None, raw=None, **kw):
        h = self.headers(headers)
        data = None
        if body is not None:
            data = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if raw is not None:
            data = raw
        return self.http.request(method, self.server.url + path, data=data, headers=h,
                                 timeout=30, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.req("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.req("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    def as_(self, token):
        return Client(self.server, token)


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="formd-e2e-") as d:
        s = Server(os.path.join(d, "data")).start()
        yield s
        rc = s.stop()
        log = s.read_log()
        assert rc == 0, "formd did not stop cleanly:\n" + log
        if ASAN:
            assert "ERROR: AddressSanitizer" not in log, log
            assert "runtime error:" not in log, log
            assert "LeakSanitizer" not in log, log


@pytest.fixture(scope="module")
def admin(server):
    return Client(server, server.admin_key)


@pytest.fixture(scope="module")
def anon(server):
    return Client(server)


def problem(r, status, name=None):
    """Asserts r is an RFC 9457 problem with this status (and type name)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    p = r.json()
    assert p["status"] == status
    assert p["type"].startswith("https://formd.dev/problems/")
    assert p["title"] and isinstance(p["detail"], str)
    if name:
        assert p["type"].endswith("/" + name), p
    return p


def make_project(admin, name="Project"):
    r = admin.post("/v1/projects", {"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def make_form(client, pid, **definition):
    body = {"name": "Intake"}
    body.update(definition)
    if "schema" not in body and "fields" not in body:
        body["fields"] = [
            {"name": "email", "type": "email", "required": True},
            {"name": "age", "type": "integer", "min": 18, "max": 130},
        ]
    r = client.post(f"/v1/projects/{pid}/forms", body)
    assert r.status_code == 201, r.text
    return r.json()


def publish(client, fid):
    r = client.post(f"/v1/forms/{fid}/publish")
    assert r.status_code == 200, r.text
    return r.json()["version"]


# ---- shared by the AI tests ----

def make_model(preset, directory):
    """A random-weight GGUF of preset (tiny, 1b, 7b) in directory: its path."""
    path = os.path.join(directory, f"{preset}.gguf")
    r = subprocess.run([BIN, "ai", "mkmodel", "--preset", preset, "--out", path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture(scope="session")
def tiny_model():
    """The tiny preset, made once for the whole run."""
    with tempfile.TemporaryDirectory(prefix="formd-model-tiny-") as d:
        yield make_model("tiny", d)


def wait_task(client, tid, timeout=120 if ASAN else 60):
    """The task once it has finished (completed, discarded or cancelled)."""
    deadline = time.time() + timeout
    t = None
    while time.time() < deadline:
        t = client.get(f"/v1/tasks/{tid}").json()
        if t["state"] in ("completed", "discarded", "cancelled"):
            return t
        time.sleep(0.1)
    raise AssertionError(f"task {tid} did not finish: {t}")


def stop_clean(server):
    """Stops server and checks it exited well (and, under ASan, cleanly)."""
    rc = server.stop()
    log = server.read_log()
    assert rc == 0, log
    if ASAN:
        assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log
