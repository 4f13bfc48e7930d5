"""Fixtures that start the real formd on a temporary data directory.

Every test talks HTTP to a real server process. FORMD_BIN names the binary
(the Makefile sets it: build/formd, or build/asan/formd under sanitizers).
"""
import json
import os
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
        self.env = dict(os.environ, **(env or {}))
        self.proc = None

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
                           capture_output=True, text=True)
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
