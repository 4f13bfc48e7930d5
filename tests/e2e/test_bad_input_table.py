"""Bad input on every route, generated from the route table (OWASP API8, API4, API10).

tests/e2e/test_bad_input.py digs deep into a few routes (every malformed-JSON
shape, SQL metacharacters, content types); this file goes wide: for every
route that takes input, each hostile kind of its input gets a clear 4xx RFC
9457 problem (content type, status, title, detail) and stores nothing.

INPUTS must have exactly the keys of the route table: a route's row says what
input it takes (a JSON body, query arguments, a path parameter, headers read);
a route with none says so (NO_INPUT), so a new route cannot go untested.
"""
import json
import os
import re
import socket

import pytest
from requests.structures import CaseInsensitiveDict

from conftest import ROOT, make_project
from test_authz_matrix import OPEN_BODY, ROUTES, objects, route_table, stored

MAX_BODY = 1 << 20          # the server's default --max-body
BIG = 1 << 20               # a 1 MiB string member


class Input:
    """What a route reads besides its path: body (JSON object members from the matrix
    row's valid body), query (argument names) and headers (names read)."""

    def __init__(self, body=False, query=(), headers=()):
        self.body, self.query, self.headers = body, tuple(query), tuple(headers)


NO_INPUT = Input()
PAGED = ("limit", "cursor")

# (method, pattern): what the route reads. One line a route.
INPUTS = {
    ("POST", "/v1/auth/login"): Input(body=True),
    ("POST", "/v1/auth/logout"): NO_INPUT,
    ("GET", "/v1/me"): NO_INPUT,
    ("POST", "/v1/keys"): Input(body=True),
    ("GET", "/v1/keys"): Input(query=PAGED + ("project_id",)),
    ("DELETE", "/v1/keys/{}"): NO_INPUT,
    ("GET", "/v1/sessions"): Input(query=PAGED + ("user_id",)),
    ("DELETE", "/v1/sessions/{}"): NO_INPUT,
    ("POST", "/v1/projects"): Input(body=True),
    ("GET", "/v1/projects"): Input(query=PAGED),
    ("GET", "/v1/projects/{}"): NO_INPUT,
    ("POST", "/v1/projects/{}/forms"): Input(body=True),
    ("GET", "/v1/projects/{}/forms"): Input(query=PAGED),
    ("GET", "/v1/forms/{}"): NO_INPUT,
    ("PATCH", "/v1/forms/{}"): Input(body=True),
    ("PUT", "/v1/forms/{}/draft"): Input(body=True),
    ("POST", "/v1/forms/{}/publish"): NO_INPUT,
    ("GET", "/v1/forms/{}/submissions"): Input(query=PAGED + ("status", "include_deleted", "created_after", "created_before")),
    ("GET", "/v1/public/forms/{}"): NO_INPUT,
    ("POST", "/v1/public/forms/{}/submissions"): Input(body=True, headers=("Idempotency-Key",)),
    ("GET", "/v1/submissions/{}"): NO_INPUT,
    ("PATCH", "/v1/submissions/{}"): Input(body=True),
    ("DELETE", "/v1/submissions/{}"): NO_INPUT,
    ("GET", "/v1/submissions/{}/history"): NO_INPUT,
    ("POST", "/v1/submissions/{}/restore"): NO_INPUT,
    ("POST", "/v1/submissions/{}/purge"): NO_INPUT,
    ("POST", "/v1/forms/{}/webhooks"): Input(body=True),
    ("GET", "/v1/forms/{}/webhooks"): NO_INPUT,
    ("GET", "/v1/webhooks/{}"): NO_INPUT,
    ("DELETE", "/v1/webhooks/{}"): NO_INPUT,
    ("GET", "/v1/webhooks/{}/deliveries"): Input(query=PAGED),
    ("GET", "/v1/forms/{}/analytics"): Input(query=("from", "to", "fresh", "include_deleted", "status", "version")),
    ("POST", "/v1/forms/{}/exports"): Input(body=True),
    ("GET", "/v1/exports/{}"): NO_INPUT,
    ("GET", "/v1/exports/{}/download"): NO_INPUT,
    ("POST", "/v1/analytics/query"): Input(body=True),
    ("POST", "/v1/forms/{}/ai/extract"): Input(body=True),
    ("POST", "/v1/forms/{}/ai/ocr"): Input(body=True),
    ("POST", "/v1/forms/{}/ai/classify"): Input(body=True),
    ("POST", "/v1/forms/{}/ai/summarize"): Input(body=True),
    ("POST", "/v1/ai/generate-form"): Input(body=True),
    ("POST", "/v1/ai/chat/completions"): Input(body=True),
    ("GET", "/v1/ai/models"): NO_INPUT,
    ("GET", "/v1/tasks"): Input(query=PAGED + ("state", "queue", "kind")),
    ("GET", "/v1/tasks/{}"): NO_INPUT,
    ("POST", "/v1/tasks/{}/retry"): NO_INPUT,
    ("POST", "/v1/tasks/{}/cancel"): NO_INPUT,
    ("GET", "/v1/queues"): NO_INPUT,
    ("POST", "/v1/queues/{}/pause"): NO_INPUT,
    ("POST", "/v1/queues/{}/resume"): NO_INPUT,
    ("GET", "/v1/audit"): Input(query=PAGED + ("actor", "action", "target", "project", "outcome", "since", "until")),
    ("GET", "/v1/audit/export"): Input(query=("actor", "action", "target", "project", "outcome", "since", "until")),
    ("GET", "/healthz"): NO_INPUT,
    ("GET", "/readyz"): NO_INPUT,
    ("GET", "/metrics"): NO_INPUT,
    ("GET", "/openapi.json"): NO_INPUT,
}

# Query arguments where any text is a fine filter (an unknown kind lists nothing), so
# long as it is text (UTF-8).
FREE_TEXT_QUERY = {"queue", "kind",
                   # the audit log's filters: an actor, action or target that never
                   # occurred lists nothing (they are compared, never parsed)
                   "actor", "action", "target"}
def test_every_route_has_an_input_row():
    keys = {(r["method"], r["pattern"]) for r in route_table()}
    assert not keys - set(INPUTS), f"routes without an input row: {sorted(keys - set(INPUTS))}"
    assert not set(INPUTS) - keys, f"rows for no route: {sorted(set(INPUTS) - keys)}"


@pytest.fixture(scope="module")
def ids(server, admin, anon):
    pid = make_project(admin, "Bad Input Table")
    email = "table@example.org"
    server.cli("admin", "create-user", "--email", email, "--password-file", "-", "--role",
               "admin", input="correct horse battery\n")
    out = objects(admin, anon, pid, "T")
    out["email"] = email
    return out


def AUTH(server):
    return (b"Authorization", b"Bearer " + server.admin_key.encode())


CT_JSON = (b"Content-Type", b"application/json")


def problem_4xx(r, what):
    """'' if r is a clear 4xx problem, else what is wrong with it."""
    if not 400 <= r.status_code < 500:
        return f"{what}: status {r.status_code} {r.text[:160]!r}"
    if not r.headers.get("Content-Type", "").startswith("application/problem+json"):
        return f"{what}: {r.status_code} with Content-Type {r.headers.get('Content-Type')!r}"
    try:
        p = r.json()
    except ValueError:
        return f"{what}: not JSON: {r.text[:160]!r}"
    if p.get("status") != r.status_code or not p.get("title") or \
            not isinstance(p.get("detail"), str) or not p["detail"]:
        return f"{what}: incomplete problem {p}"
    return ""


class RawResponse:
    """What raw_request read, shaped like a requests.Response."""

    def __init__(self, data):
        top, _, self.content = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        self.status_code = int(lines[0].split(" ")[1])
        self.headers = CaseInsensitiveDict(
            (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:]))
        self.text = self.content.decode(errors="replace")

    def json(self):
        return json.loads(self.content)


def raw_request(server, method, path, headers=(), body=b""):
    """Sends bytes as they are (requests refuses CR/LF in headers, and gives up on a
    body the server stopped reading). None if the server closed without answering."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".encode()
    for name, value in headers:
        head += (name if isinstance(name, bytes) else name.encode()) + b": " + value + b"\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n".encode()
    data = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass                  # answered before the whole body was read: read the answer
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return RawResponse(data) if data else None


def json_text(v):
    return json.dumps(v)


def wrong_types(value):
    """Values of other JSON types than value's."""
    samples = [5, 1.5, True, None, "x", [1], {"k": 1}]
    return [s for s in samples if type(s) is not type(value)
            and not (isinstance(value, bool) and isinstance(s, bool))]


def body_cases(body):
    """(name, raw bytes) of hostile variants of a valid JSON object body."""
    good = json_text(body)
    first = next(iter(body), None)
    inner = good[1:-1]
    sep = "," if inner else ""
    cases = {
        "malformed": good[:-1].encode(),
        "not-an-object": b"[" + good.encode() + b"]",
        "invalid-utf8": ("{" + inner + sep + '"zz":"').encode() + b"\xff\xfe\"}",
        "nul-escape": ("{" + inner + sep + '"zz":"a\\u0000b"}').encode(),
        "raw-nul": ("{" + inner + sep + '"zz":"a').encode() + b"\x00" + b'b"}',
        "huge-exponent": ("{" + inner + sep + '"zz":1e400}').encode(),
        "2^64": ("{" + inner + sep + '"zz":18446744073709551616}').encode(),
        "deep-10k": ("{" + inner + sep + '"zz":' + "[" * 10000 + "]" * 10000 + "}").encode(),
        "unknown-member": ("{" + inner + sep + '"zz":1}').encode(),
        "oversized": ("{" + inner + sep + '"zz":"' + "x" * (MAX_BODY + 1) + '"}').encode(),
    }
    if first is not None:
        cases["duplicate-key"] = ("{" + inner + "," + json_text(first) + ":"
                                  + json_text(body[first]) + "}").encode()
    for member, value in body.items():
        for i, other in enumerate(wrong_types(value)):
            cases[f"{member}-type-{i}"] = json_text(dict(body, **{member: other})).encode()
        if isinstance(value, str):
            cases[f"{member}-1MiB"] = json_text(dict(body, **{member: "x" * BIG})).encode()
            longer = value + "x" * (BIG // 4)
            cases[f"{member}-256KiB"] = json_text(dict(body, **{member: longer})).encode()
            cases[f"{member}-nul"] = json_text(dict(body, **{member: value + "\0"})).encode()
        cases[f"{member}-huge-number"] = json_text(dict(body, **{member: 2 ** 64})).encode()
    return cases


# String members where the valid value plus 256 KiB is still good input (bounded by
# --max-body): a long SQL text is a query like any other, and the matrix's PNG with
# bytes after its end is still that PNG.
LONG_OK = {("POST", "/v1/analytics/query"): {"sql"}, ("POST", "/v1/forms/{}/ai/ocr"): {"image"}}
# Optional members where null means "absent", as the API answers them: a key's
# project_id (null: every project), as GET /v1/keys shows it.
NULL_OK = {("POST", "/v1/keys"): {"project_id", "expires_at"}}

BODY_KEYS = sorted(k for k, i in INPUTS.items() if i.body)
QUERY_KEYS = sorted(k for k, i in INPUTS.items() if i.query)
PATH_KEYS = sorted(k for k in INPUTS if "{}" in k[1])
HEADER_KEYS = sorted(k for k, i in INPUTS.items() if i.headers)


def target(key, ids):
    return ROUTES[key].request(key[1], ids)


@pytest.mark.parametrize("key", BODY_KEYS, ids=lambda k: f"{k[0]} {k[1]}")
def test_bad_bodies(server, admin, ids, key):
    path, body = target(key, ids)
    failures = []
    before = stored(server)
    for name, raw in body_cases(body).items():
        if name == "unknown-member" and key in OPEN_BODY:
            continue
        if name.endswith("-256KiB") and name[:-7] in LONG_OK.get(key, ()):
            continue
        member = name.split("-type-")[0]
        if "-type-" in name and member in NULL_OK.get(key, ()) and \
                json.loads(raw)[member] is None:
            continue
        if len(raw) > MAX_BODY:
            r = raw_request(server, key[0], path, [AUTH(server), CT_JSON], raw)
        else:
            r = admin.req(key[0], path, raw=raw, headers={"Content-Type": "application/json"})
        bad = problem_4xx(r, name) if r is not None else f"{name}: closed without an answer"
        after = stored(server)
        before, changed = after, after != before
        if not bad and changed:
            bad = f"{name}: refused with {r.status_code} but something was stored"
        if bad:
            failures.append(bad)
    assert not failures, "\n".join(failures)


def query_values():
    return {"garbage": "zz%22%27%3C", "nul": "a%00b", "crlf": "a%0d%0aX-Injected:%201",
            "huge": "1e400", "2^64": "18446744073709551616", "negative": "-1",
            "long": "x" * 5000, "invalid-utf8": "%ff%fe"}


@pytest.mark.parametrize("key", QUERY_KEYS, ids=lambda k: f"{k[0]} {k[1]}")
def test_bad_query_arguments(server, admin, ids, key):
    path, _ = target(key, ids)
    path = path.split("?")[0]
    failures = []
    for arg in INPUTS[key].query:
        for name, value in query_values().items():
            if arg in FREE_TEXT_QUERY and name != "invalid-utf8":
                continue
            r = admin.get(f"{path}?{arg}={value}")
            bad = problem_4xx(r, f"{arg}={name}")
            if bad:
                failures.append(bad)
    assert not failures, "\n".join(failures)


PATH_VALUES = {
    "traversal": "..%2f..%2fetc%2fpasswd",
    "dot-encoded": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "dotdot": "%2e%2e",
    "nul": "abc%00def",
    "only-nul": "%00",
    "crlf": "a%0d%0aSet-Cookie:%20x",
    "long": "A" * 3000,
    "invalid-utf8": "%ff%fe",
    "sql": "x'%20OR%20'1'%3D'1",
}


@pytest.mark.parametrize("key", PATH_KEYS, ids=lambda k: f"{k[0]} {k[1]}")
def test_bad_path_parameters(server, admin, ids, key):
    _, body = target(key, ids)
    failures = []
    before = stored(server)
    for name, value in PATH_VALUES.items():
        path = key[1].replace("{}", value, 1)
        r = raw_request(server, key[0], path, [AUTH(server), CT_JSON],
                        json_text(body).encode() if body is not None else b"")
        bad = problem_4xx(r, name) if r is not None else f"{name}: closed without an answer"
        after = stored(server)
        before, changed = after, after != before
        if not bad and changed:
            bad = f"{name}: refused with {r.status_code} but something was stored"
        if bad:
            failures.append(bad)
    assert not failures, "\n".join(failures)


# A raw CR LF ends a header line (what follows is another header, not this one's value),
# so what could smuggle a line break into a value is obsolete folding (CR LF then a
# space). libmicrohttpd drops a folded header and cuts a value at a NUL byte before
# formd sees it: those requests may succeed (without the header, or with the part
# before the NUL), but no control character may reach formd or come back.
HEADER_VALUES = {
    "folded-crlf": b"abc\r\n X-Injected: 1",
    "folded-tab": b"abc\r\n\tdef",
    "cr": b"abc\rdef",
    "control": b"abc\x01def",
    "del": b"abc\x7fdef",
    "non-ascii": "caf\u00e9".encode(),
    "invalid-utf8": b"\xff\xfe",
    "space": b"a b",
    "long": b"k" * 300,
    "empty": b"",
}
BELOW_FORMD = {"folded-crlf", "folded-tab"}


def idempotency_keys(server):
    return [row[0] for row in server.sql("SELECT idempotency_key FROM submissions "
                                         "WHERE idempotency_key IS NOT NULL")]


@pytest.mark.parametrize("key", HEADER_KEYS, ids=lambda k: f"{k[0]} {k[1]}")
def test_bad_headers(server, ids, key):
    path, body = target(key, ids)
    failures = []
    before = stored(server)
    for header in INPUTS[key].headers:
        for name, value in dict(HEADER_VALUES, nul=b"abc\x00def").items():
            r = raw_request(server, key[0], path, [CT_JSON, (header.encode(), value)],
                            json_text(body).encode())
            what = f"{header} {name}"
            if r is None:
                failures.append(f"{what}: closed without an answer")
                continue
            if "X-Injected" in r.headers:
                failures.append(f"{what}: the injected header came back")
            after = stored(server)
            before, changed = after, after != before
            if name in BELOW_FORMD or name == "nul":
                continue
            bad = problem_4xx(r, what)
            if not bad and changed:
                bad = f"{what}: refused with {r.status_code} but something was stored"
            if bad:
                failures.append(bad)
    bad_keys = [k for k in idempotency_keys(server)
                if not k or any(not 0x21 <= ord(c) <= 0x7e for c in k)]
    assert not bad_keys, f"idempotency keys with control characters stored: {bad_keys}"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("value", [b"abc\r\n def", b"Bearer x\r\nX-Injected: 1", b"Bearer \x00"],
                         ids=["folded", "crlf", "nul"])
def test_bad_authorization_header(server, value):
    r = raw_request(server, "GET", "/v1/me", [(b"Authorization", value)])
    assert r is not None, "closed without an answer"
    assert "X-Injected" not in r.headers
    assert not problem_4xx(r, "Authorization"), problem_4xx(r, "Authorization")


# Every request header formd reads. A handler reading a new one adds it here and to the
# tests below (header injection, OWASP API8).
HEADERS_READ = {"Authorization", "Content-Type", "Content-Length", "Idempotency-Key",
                "traceparent", "Origin", "X-Forwarded-For"}


@pytest.mark.parametrize("name", [b"Origin", b"X-Forwarded-For"])
@pytest.mark.parametrize("value", [b"https://evil.example\r\nX-Injected: 1", b"x\x00y",
                                   b"1.2.3.4, " * 500, b"\xff\xfe"],
                         ids=["crlf", "nul", "long-list", "not-utf8"])
def test_hostile_origin_and_forwarded_for_are_not_reflected(server, ids, name, value):
    """CORS is off here and no proxy is trusted: these headers change nothing and are
    never echoed (test_cors.py and test_rate_limits.py cover them when configured)."""
    r = raw_request(server, "GET", f"/v1/public/forms/{ids['slug']}", [(name, value)])
    assert r is not None, "closed without an answer"
    assert "X-Injected" not in r.headers
    assert "Access-Control-Allow-Origin" not in r.headers
    assert r.status_code in (200, 400), r.status_code


def test_headers_read_are_all_listed():
    src = os.path.join(ROOT, "src")
    found = set()
    for d, _, files in os.walk(src):
        for f in files:
            if f.endswith(".c"):
                with open(os.path.join(d, f)) as fh:
                    found |= set(re.findall(r'http_header\(\s*req\s*,\s*"([^"]+)"', fh.read()))
    assert found == HEADERS_READ, f"read but not listed: {found - HEADERS_READ}; " \
                                  f"listed but not read: {HEADERS_READ - found}"


TRACE = b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01"


@pytest.mark.parametrize("header", ["Content-Type", "traceparent", "Idempotency-Key"])
@pytest.mark.parametrize("value", [b"a\r\n X-Injected: 1", b"a\rX-Injected: 1", b"a\x01b",
                                   TRACE + b"\r\n X-Injected: 1"],
                         ids=["folded", "cr", "control", "traceparent-folded"])
def test_bad_header_values_are_never_reflected(server, ids, header, value):
    r = raw_request(server, "POST", f"/v1/public/forms/{ids['slug']}/submissions",
                    [(b"Content-Type", b"application/json")] * (header != "Content-Type")
                    + [(header.encode(), value)], b'{"data":{"email":"a@example.org"}}')
    assert r is not None, "closed without an answer"
    assert "X-Injected" not in r.headers, r.headers
    assert all("\r" not in v and "\n" not in v for v in r.headers.values()), r.headers
    # a traceparent that is not exactly well formed starts a new trace, never echoed
    assert not r.headers.get("traceparent", "").startswith("00-" + "a" * 32), r.headers


@pytest.mark.parametrize("slug", ["../../etc/passwd", "..", "a/b", "a\\b", "%2e%2e%2f", "a\0b",
                                  "\u202e", "a b", "A" * 300])
def test_traversal_in_slug_is_refused(server, admin, ids, slug):
    before = stored(server)
    r = admin.post(f"/v1/projects/{ids['project']}/forms",
                   {"name": "Slug", "slug": slug, "fields": [{"name": "a", "type": "text"}]})
    assert not problem_4xx(r, slug), problem_4xx(r, slug)
    assert stored(server) == before
