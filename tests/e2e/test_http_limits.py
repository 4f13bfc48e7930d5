"""HTTP-level limits, request smuggling guards, timeouts and response headers.

docs/api.md, "Limits" and "Conventions". Inputs that requests cannot produce
(duplicate Content-Length, oversized header blocks, trickled bytes) go over raw
sockets.
"""
import json
import os
import re
import select
import socket
import tempfile
import time

import pytest
import requests

from conftest import ASAN, Client, Server, make_form, make_project, publish

REQUEST_ID = re.compile(r"^[0-9A-Za-z]{26}$")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")
VALID_TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


# ---- raw HTTP helpers ----

class RawResponse:
    def __init__(self, status, headers, body):
        self.status_code = status
        self.raw_headers = headers            # lower-case name -> [values]
        self.headers = requests.structures.CaseInsensitiveDict(
            {k: ", ".join(v) for k, v in headers.items()})
        self.content = body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


def connect(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_response(sock):
    """Reads one response (Content-Length framed); None if the peer closed first."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    n = int(headers.get("content-length", ["0"])[0])
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    assert len(rest) == n, (n, rest)   # nothing after the body: no second response
    return RawResponse(status, headers, rest)


def closed_within(sock, seconds):
    """True if the peer closes the connection (EOF or reset) within seconds."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True
        raise AssertionError(f"unexpected bytes after the response: {data[:200]!r}")


def raw_request(server, data, timeout=10):
    with connect(server, timeout) as s:
        s.sendall(data)
        return read_response(s)


def assert_common_headers(r):
    h = r.headers
    assert REQUEST_ID.match(h.get("X-Request-Id", "")), h
    assert TRACEPARENT.match(h.get("traceparent", "")), h
    assert TRACEPARENT.match(h["traceparent"]).group(1) != "0" * 32
    assert TRACEPARENT.match(h["traceparent"]).group(2) != "0" * 16
    assert h.get("X-Content-Type-Options") == "nosniff", h
    assert "frame-ancestors 'none'" in h.get("Content-Security-Policy", ""), h
    assert h.get("Cache-Control") == "no-store", h
    assert h.get("X-Frame-Options") == "DENY", h
    assert h.get("Referrer-Policy") == "no-referrer", h


def raw_problem(r, status, name):
    """problem() for a RawResponse (or a requests.Response)."""
    assert r is not None, "the server closed the connection without an answer"
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    p = r.json()
    assert p["status"] == status
    assert p["type"] == "https://formd.dev/problems/" + name, p
    assert p["title"] and isinstance(p["detail"], str)
    assert p["request_id"] == r.headers["X-Request-Id"]
    assert_common_headers(r)
    return p


def wait_log_line(server, request_id, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in server.read_log().splitlines():
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("request_id") == request_id:
                return rec
        time.sleep(0.05)
    raise AssertionError(f"no log line with request_id {request_id}:\n{server.read_log()[-3000:]}")


# ---- servers with custom options ----

def _own_server(args):
    d = tempfile.TemporaryDirectory(prefix="formd-e2e-")
    s = Server(os.path.join(d.name, "data"), args).start()
    return d, s


def _stop(d, s):
    rc = s.stop()
    log = s.read_log()
    d.cleanup()
    assert rc == 0, log
    if ASAN:
        assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log


@pytest.fixture(scope="module")
def small():
    """A server with --max-body 2048 and a published form that takes any object."""
    d, s = _own_server(["--max-body", "2048"])
    admin = Client(s, s.admin_key)
    pid = make_project(admin)
    f = make_form(admin, pid, name="Anything", slug="anything", schema={"type": "object"})
    publish(admin, f["id"])
    s.admin = admin
    yield s
    _stop(d, s)


@pytest.fixture(scope="module")
def short():
    """A server with --request-timeout 2 that logs every request (debug)."""
    d, s = _own_server(["--request-timeout", "2", "--log-level", "debug"])
    yield s
    _stop(d, s)


@pytest.fixture(scope="module")
def anyform(admin):
    pid = make_project(admin, "Limits")
    f = make_form(admin, pid, name="Any", slug="limits-any", schema={"type": "object"})
    publish(admin, f["id"])
    return "/v1/public/forms/limits-any/submissions"


JSON_CT = {"Content-Type": "application/json"}


# ---- body size ----

def test_body_over_max_body_by_content_length(small):
    body = b'{"data":{"a":"' + b"x" * 3000 + b'"}}'
    r = small.admin.post("/v1/public/forms/anything/submissions", raw=body, headers=JSON_CT)
    raw_problem(r, 413, "too_large")


def test_body_exactly_max_body_is_accepted(small):
    prefix, suffix = b'{"data":{"a":"', b'"}}'
    body = prefix + b"x" * (2048 - len(prefix) - len(suffix)) + suffix
    assert len(body) == 2048
    r = small.admin.post("/v1/public/forms/anything/submissions", raw=body, headers=JSON_CT)
    assert r.status_code == 201, r.text


def test_chunked_body_over_max_body(small):
    payload = b'{"data":{"a":"' + b"x" * 3000 + b'"}}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 500]), payload[i:i + 500])
                      for i in range(0, len(payload), 500))
    req = (b"POST /v1/public/forms/anything/submissions HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           + chunks + b"0\r\n\r\n")
    raw_problem(raw_request(small, req), 413, "too_large")


def test_chunked_body_under_max_body_is_accepted(small):
    payload = b'{"data":{"a":"chunked"}}'
    req = (b"POST /v1/public/forms/anything/submissions HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
    r = raw_request(small, req)
    assert r is not None and r.status_code == 201, r and r.text
    assert_common_headers(r)


# ---- header block and URI ----

def test_headers_over_max_header(server):
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20))   # ~20 KiB
    r = raw_request(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
    raw_problem(r, 431, "headers_too_large")


def test_headers_under_max_header_are_accepted(server):
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(14))   # ~14 KiB
    r = raw_request(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
    assert r is not None and r.status_code == 200, r and r.text


def test_many_small_headers_get_431(server):
    # 1500 tiny header lines fit the 16 KiB limit in bytes but not MHD's
    # per-connection pool (one record each): MHD answers 431 itself (its body
    # is HTML, a known limit documented in docs/api.md), and the server lives on.
    pad = b"".join(b"X%d: b\r\n" % i for i in range(1500))
    assert len(pad) < 16384 - 100
    r = raw_request(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
    assert r is not None and r.status_code == 431, r and r.text
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200


def test_a_hundred_header_lines_are_accepted(server):
    pad = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(100))
    r = raw_request(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
    assert r is not None and r.status_code == 200, r and r.text


def test_uri_over_max_uri(server):
    r = raw_request(server, b"GET /healthz?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    raw_problem(r, 414, "uri_too_long")


def test_uri_under_max_uri_is_accepted(server):
    r = raw_request(server, b"GET /healthz?q=" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r is not None and r.status_code == 200, r and r.text


def test_percent_encoded_uri_over_max_uri(server):
    target = b"/healthz?q=" + b"%41" * 3000
    assert len(target) > 9000
    r = raw_request(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    raw_problem(r, 414, "uri_too_long")


def test_many_query_arguments_are_a_414(short):
    target = b"/healthz?" + b"&".join([b"a"] * 1500)
    assert len(target) < 8192
    with connect(short, timeout=6) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        r = read_response(s)
    assert r is not None, "no answer: the connection was closed"
    raw_problem(r, 414, "uri_too_long")
    assert "100 query arguments" in r.json()["detail"]


def test_a_hundred_query_arguments_are_accepted(short):
    target = b"/healthz?" + b"&".join([b"a%d=%d" % (i, i) for i in range(100)])
    with connect(short, timeout=6) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        r = read_response(s)
    assert r is not None and r.status_code == 200, r and r.text


# ---- request smuggling ----

def test_two_content_lengths_400_and_close(admin):
    # The body is itself a request: it must not be answered as a second one.
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    req = (b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
           + admin.token.encode() + b"\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(smuggled), len(smuggled))
           + smuggled)
    with connect(admin.server) as s:
        s.sendall(req)
        r = read_response(s)
        p = raw_problem(r, 400, "invalid")
        assert "Content-Length" in p["detail"]
        assert closed_within(s, 5), "the connection stayed open"


def test_two_different_content_lengths_400_and_close(admin):
    body = b'{"name":"smuggle"}'
    req = (b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
           + admin.token.encode() + b"\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body)
    with connect(admin.server) as s:
        s.sendall(req)
        raw_problem(read_response(s), 400, "invalid")
        assert closed_within(s, 5), "the connection stayed open"


def test_content_length_with_transfer_encoding_400_and_close(admin):
    body = b'{"name":"smuggle"}'
    req = (b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
           + admin.token.encode() + b"\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % (len(body) + 9)
           + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    with connect(admin.server) as s:
        s.sendall(req)
        p = raw_problem(read_response(s), 400, "invalid")
        assert "Transfer-Encoding" in p["detail"]
        assert closed_within(s, 5), "the connection stayed open"
    # Nothing was created by the rejected request.
    names = [p["name"] for p in admin.get("/v1/projects?limit=200").json()["items"]]
    assert "smuggle" not in names


# ---- JSON limits ----

def nested(depth):
    """A JSON value that is depth levels deep: {"a":{"a":...1}}."""
    return '{"a":' * depth + "1" + "}" * depth


def test_json_depth_33_is_400(admin):
    # {"name":"x","a": <32 levels>} is 33 levels deep.
    r = admin.post("/v1/projects", raw='{"name":"x","a":' + nested(32) + "}", headers=JSON_CT)
    p = raw_problem(r, 400, "invalid")
    assert "nesting" in p["detail"], p


def test_json_depth_32_passes_the_parser(admin):
    # 32 levels parse; the 400 is about the unknown member, not the nesting.
    r = admin.post("/v1/projects", raw='{"name":"x","a":' + nested(31) + "}", headers=JSON_CT)
    p = raw_problem(r, 400, "invalid")
    assert "nesting" not in p["detail"] and "unknown member" in p["detail"], p


def test_json_depth_32_submission_accepted_33_rejected(anon, anyform):
    ok = anon.post(anyform, raw='{"data":' + nested(31) + "}", headers=JSON_CT)
    assert ok.status_code == 201, ok.text
    bad = anon.post(anyform, raw='{"data":' + nested(32) + "}", headers=JSON_CT)
    assert "nesting" in raw_problem(bad, 400, "invalid")["detail"]


def test_json_deep_array_nesting_33_is_400(anon, anyform):
    body = '{"data":{"a":' + "[" * 31 + "]" * 31 + "}}"
    assert "nesting" in raw_problem(anon.post(anyform, raw=body, headers=JSON_CT),
                                    400, "invalid")["detail"]


def test_json_members_10000_accepted_10001_rejected(anon, anyform):
    # {"data":{"a":[N elements]}}: N + 2 members in all.
    ok = anon.post(anyform, {"data": {"a": [0] * 9998}})
    assert ok.status_code == 201, ok.text
    bad = anon.post(anyform, {"data": {"a": [0] * 9999}})
    p = raw_problem(bad, 400, "invalid")
    assert "members" in p["detail"], p


def test_json_members_10001_object_members_rejected(admin):
    body = {"name": "x"}
    body.update({"k%d" % i: i for i in range(10000)})
    p = raw_problem(admin.post("/v1/projects", body), 400, "invalid")
    assert "members" in p["detail"], p


# ---- media type and method ----

def test_unsupported_media_type_415(admin):
    r = admin.post("/v1/projects", raw='{"name":"x"}', headers={"Content-Type": "text/plain"})
    raw_problem(r, 415, "unsupported_media_type")
    r = admin.post("/v1/projects", raw='name=x',
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    raw_problem(r, 415, "unsupported_media_type")


def test_body_without_content_type_415(admin):
    req = (b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
           + admin.token.encode() + b"\r\nContent-Length: 12\r\n\r\n{\"name\":\"x\"}")
    raw_problem(raw_request(admin.server, req), 415, "unsupported_media_type")


def test_json_with_charset_parameter_accepted(admin):
    r = admin.post("/v1/projects", raw='{"name":"charset"}',
                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text
    assert_common_headers(r)


def test_405_with_allow(admin):
    r = admin.delete("/v1/projects")
    raw_problem(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "POST"}
    r = admin.put("/healthz", {"x": 1})
    raw_problem(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET"}
    r = admin.post("/v1/submissions/01ARZ3NDEKTSV4RRFFQ69G5FAV/history")
    raw_problem(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET"}


def test_unknown_path_404(anon):
    raw_problem(anon.get("/v1/nope"), 404, "not_found")


# ---- timeouts and keep-alive ----

def test_slow_header_client_is_cut_off(short):
    payload = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    s = connect(short)
    start = time.monotonic()
    closed_at = None
    try:
        for b in payload:
            try:
                s.send(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            readable, _, _ = select.select([s], [], [], 0.5)
            if readable:
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                if not data:
                    closed_at = time.monotonic()
                    break
            if time.monotonic() - start > 12:
                break
    finally:
        s.close()
    assert closed_at is not None, "a client trickling headers was never cut off"
    assert closed_at - start < 8, closed_at - start
    # The server is still fine afterwards.
    assert requests.get(short.url + "/healthz", timeout=10).status_code == 200


def test_slow_body_client_is_cut_off(short):
    s = connect(short)
    start = time.monotonic()
    s.sendall(b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n")
    closed_at = None
    try:
        while time.monotonic() - start < 12:
            try:
                s.send(b" ")
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            readable, _, _ = select.select([s], [], [], 0.5)
            if readable:
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                if not data:
                    closed_at = time.monotonic()
                    break
    finally:
        s.close()
    assert closed_at is not None and closed_at - start < 8, closed_at and closed_at - start


def test_keep_alive_several_requests_on_one_connection(server, admin):
    ids = set()
    with connect(server) as s:
        for i in range(5):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            r = read_response(s)
            assert r is not None and r.status_code == 200, r and r.text
            assert r.json() == {"status": "ok"}
            assert_common_headers(r)
            ids.add(r.headers["X-Request-Id"])
        body = b'{"name":"keepalive"}'
        s.sendall(b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + admin.token.encode() + b"\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        r = read_response(s)
        assert r is not None and r.status_code == 201, r and r.text
        ids.add(r.headers["X-Request-Id"])
        s.sendall(b"GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + admin.token.encode() + b"\r\n\r\n")
        r = read_response(s)
        assert r is not None and r.status_code == 200, r and r.text
        ids.add(r.headers["X-Request-Id"])
        assert "close" not in r.headers.get("Connection", "").lower()
    assert len(ids) == 7


def test_keep_alive_request_on_a_fresh_connection_within_timeout(short):
    # A request sent over 1 s on a new connection, with a 2 s limit, is answered.
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(short) as s:
        for i in range(0, len(req), 5):
            s.sendall(req[i:i + 5])
            time.sleep(0.12)
        r = read_response(s)
    assert r is not None and r.status_code == 200


def test_keep_alive_idle_time_does_not_count_against_the_next_request(short):
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(short) as s:
        s.sendall(req)
        r = read_response(s)
        assert r is not None and r.status_code == 200
        time.sleep(1.6)                      # idle, under the 2 s limit
        try:
            for i in range(0, len(req), 4):  # ~1.1 s from first byte to last
                s.sendall(req[i:i + 4])
                time.sleep(0.12)
            r = read_response(s)
        except (BrokenPipeError, ConnectionResetError):
            r = None
    assert r is not None, "the second request was cut off after less than the request timeout"
    assert r.status_code == 200


# ---- ids, trace context, headers ----

def test_common_headers_on_many_kinds_of_response(server, admin, anon):
    responses = [
        anon.get("/healthz"),
        anon.get("/readyz"),
        anon.get("/metrics"),
        anon.get("/openapi.json"),
        anon.get("/v1/me"),                      # 401
        anon.get("/v1/nope"),                    # 404
        admin.delete("/v1/projects"),            # 405
        admin.post("/v1/projects", {"name": "hdrs"}),   # 201
        admin.post("/v1/projects", {"nope": 1}),        # 400
        admin.post("/v1/projects", raw="x", headers={"Content-Type": "text/plain"}),  # 415
        admin.get("/v1/projects"),
    ]
    seen = set()
    for r in responses:
        assert_common_headers(r)
        seen.add(r.headers["X-Request-Id"])
    assert len(seen) == len(responses)
    for raw in (b"GET /healthz?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20)) + b"\r\n"):
        r = raw_request(server, raw)
        assert r is not None
        assert_common_headers(r)


def test_valid_traceparent_is_continued(anon):
    r = anon.get("/healthz", headers={"traceparent": VALID_TP})
    m = TRACEPARENT.match(r.headers["traceparent"])
    assert m, r.headers
    assert m.group(1) == "0af7651916cd43dd8448eb211c80319c"
    assert m.group(2) != "b7ad6b7169203331"


def test_valid_traceparent_with_other_flags_is_continued(anon):
    r = anon.get("/healthz", headers={
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"})
    m = TRACEPARENT.match(r.headers["traceparent"])
    assert m and m.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert m.group(2) != "00f067aa0ba902b7"


@pytest.mark.parametrize("tp", [
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",   # zero trace id
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   # version ff
    "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",     # trace id too short
    "00-0af7651916cd43dd8448eb211c80319c00-b7ad6b7169203331-01", # trace id too long
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",    # parent id too short
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   # zero parent id
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",  # trailing data, version 00
    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   # upper case
    "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",   # not hex
    "garbage",
])
def test_invalid_traceparent_gets_a_new_trace(anon, tp):
    r = anon.get("/healthz", headers={"traceparent": tp})
    assert r.status_code == 200
    m = TRACEPARENT.match(r.headers["traceparent"])
    assert m, r.headers
    assert m.group(1) != "0af7651916cd43dd8448eb211c80319c"
    assert m.group(1).lower() != "0af7651916cd43dd8448eb211c80319c"
    assert m.group(1) != "0" * 32


def test_new_traces_differ(anon):
    a = TRACEPARENT.match(anon.get("/healthz").headers["traceparent"]).group(1)
    b = TRACEPARENT.match(anon.get("/healthz").headers["traceparent"]).group(1)
    assert a != b


def test_request_and_trace_ids_in_log(short):
    r = requests.get(short.url + "/healthz", headers={"traceparent": VALID_TP}, timeout=10)
    assert r.status_code == 200
    rec = wait_log_line(short, r.headers["X-Request-Id"])
    assert rec["trace_id"] == "0af7651916cd43dd8448eb211c80319c"

    r = requests.get(short.url + "/v1/nope", timeout=10)
    rid = r.headers["X-Request-Id"]
    assert r.json()["request_id"] == rid
    rec = wait_log_line(short, rid)
    assert rec["trace_id"] == TRACEPARENT.match(r.headers["traceparent"]).group(1)
