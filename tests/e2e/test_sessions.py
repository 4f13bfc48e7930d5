"""Login sessions: listed by id (never the token), ended one by one, expired."""
import time
import uuid

import pytest

from conftest import Client, Server, problem, stop_clean

PASSWORD = "correct horse battery"


def new_user(server, role="viewer"):
    email = f"s{uuid.uuid4().hex[:8]}@example.org"
    server.cli("admin", "create-user", "--email", email, "--password-file", "-",
               "--role", role, input=PASSWORD + "\n")
    return email


def login(anon, email):
    r = anon.post("/v1/auth/login", {"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


def sessions(client, query=""):
    r = client.get("/v1/sessions" + query)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_list_own_sessions_without_tokens(server, anon):
    email = new_user(server)
    one, two = login(anon, email), login(anon, email)
    me = anon.as_(one["token"])
    r = me.get("/v1/sessions")
    items = r.json()["items"]
    assert {i["id"] for i in items} == {one["session_id"], two["session_id"]}
    for i in items:
        assert set(i) == {"id", "created_at", "expires_at", "current"}
        assert i["current"] == (i["id"] == one["session_id"])
    assert one["token"] not in r.text and two["token"] not in r.text
    assert one["token"][4:] not in r.text


def test_end_one_session(server, anon):
    email = new_user(server)
    one, two = login(anon, email), login(anon, email)
    me, other = anon.as_(one["token"]), anon.as_(two["token"])
    assert me.delete(f"/v1/sessions/{two['session_id']}").status_code == 204
    problem(other.get("/v1/me"), 401)                        # at once
    assert me.get("/v1/me").status_code == 200
    assert [i["id"] for i in sessions(me)] == [one["session_id"]]
    problem(me.delete(f"/v1/sessions/{two['session_id']}"), 404)


def test_users_cannot_see_or_end_others_sessions(server, anon, admin):
    alice, bob = new_user(server), new_user(server)
    a, b = login(anon, alice), login(anon, bob)
    ac = anon.as_(a["token"])
    problem(ac.delete(f"/v1/sessions/{b['session_id']}"), 404)
    assert anon.as_(b["token"]).get("/v1/me").status_code == 200
    bob_id = anon.as_(b["token"]).get("/v1/me").json()["id"]
    problem(ac.get(f"/v1/sessions?user_id={bob_id}"), 403)
    # An admin may list and end anyone's.
    assert [i["id"] for i in sessions(admin, f"?user_id={bob_id}")] == [b["session_id"]]
    assert admin.delete(f"/v1/sessions/{b['session_id']}").status_code == 204
    problem(anon.as_(b["token"]).get("/v1/me"), 401)
    problem(admin.get("/v1/sessions"), 400)                  # a key has no sessions
    problem(admin.get("/v1/sessions?user_id=01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)


def test_logout_still_works(server, anon):
    s = login(anon, new_user(server))
    me = anon.as_(s["token"])
    assert me.post("/v1/auth/logout").status_code == 204
    problem(me.get("/v1/me"), 401)


def test_expired_sessions_are_refused(server, anon):
    s = login(anon, new_user(server))
    me = anon.as_(s["token"])
    assert me.get("/v1/me").status_code == 200
    server.sql("UPDATE sessions SET expires_at = ? WHERE id = ?",
               (int(time.time() * 1000) - 1, s["session_id"]))
    problem(me.get("/v1/me"), 401)


def test_session_ttl_is_configurable(tmp_path):
    s = Server(str(tmp_path / "d"), ["--session-ttl", "120"]).start()
    try:
        anon_client = Client(s)
        email = new_user(s)
        r = login(anon_client, email)
        left = time.mktime(time.strptime(r["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) \
            - time.mktime(time.gmtime())
        assert 60 < left <= 121, r
    finally:
        stop_clean(s)
    bad = s.cli("serve", "--session-ttl", "5", check=False)
    assert bad.returncode != 0 and "session-ttl" in bad.stderr
