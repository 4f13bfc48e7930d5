"""formd's OpenAI-compatible chat completions endpoint, backed by the model it
has loaded (a random-weight tiny llama), and formd's openai provider talking to
it: one formd serves the model, a second formd runs its AI tasks through it.

The tiny model writes noise, so what is checked is the format of the answers,
that grammars and JSON schemas constrain the noise, the errors, and that the
provider's results through a real HTTP server are valid and say where they
came from.
"""
import json
import os
import tempfile
import threading

import pytest

from conftest import Client, Server, make_project, problem, publish, stop_clean, wait_task

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["age", "contact"],
          "properties": {"age": {"type": "integer", "minimum": 0, "maximum": 120},
                         "contact": {"enum": ["email", "phone", "post"]},
                         "note": {"type": "string", "maxLength": 20}}}


def chat(client, body, status=200):
    r = client.post("/v1/ai/chat/completions", body)
    assert r.status_code == status, r.text
    return r.json()


@pytest.fixture(scope="module")
def host(tiny_model):
    """The formd that has the model."""
    with tempfile.TemporaryDirectory(prefix="formd-chat-") as d:
        s = Server(os.path.join(d, "data"), ["--ai-model", tiny_model, "--ai-threads", "1"]).start()
        s.admin = Client(s, s.admin_key)
        yield s
        stop_clean(s)


def test_a_completion_in_openai_format(host):
    body = chat(host.admin, {"model": "anything", "temperature": 0, "max_tokens": 12,
                             "messages": [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "Say hello."}]})
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"].startswith("tiny.gguf:")
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    u = body["usage"]
    assert u["prompt_tokens"] > 0 and 0 <= u["completion_tokens"] <= 12
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    if choice["finish_reason"] == "length":
        assert u["completion_tokens"] == 12


def test_greedy_is_deterministic(host):
    req = {"temperature": 0, "max_tokens": 10, "messages": [{"role": "user", "content": "x y z"}]}
    a = chat(host.admin, req)["choices"][0]["message"]["content"]
    b = chat(host.admin, req)["choices"][0]["message"]["content"]
    assert a == b


def test_json_schema_output_always_validates(host):
    """response_format json_schema goes through formd's grammar compiler: every
    finished answer parses and meets the schema, whatever the weights."""
    finished = 0
    for seed in range(12):
        body = chat(host.admin, {
            "temperature": 1.0, "seed": seed, "max_tokens": 64,
            "messages": [{"role": "user", "content": f"person {seed}"}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "person", "schema": SCHEMA}}})
        choice = body["choices"][0]
        if choice["finish_reason"] != "stop":
            continue
        finished += 1
        doc = json.loads(choice["message"]["content"])
        assert set(doc) <= {"age", "contact", "note"} and {"age", "contact"} <= set(doc), doc
        assert isinstance(doc["age"], int) and 0 <= doc["age"] <= 120
        assert doc["contact"] in ("email", "phone", "post")
        assert len(doc.get("note", "")) <= 20
    assert finished > 0


def test_json_object_and_raw_grammar(host):
    body = chat(host.admin, {"temperature": 0.7, "seed": 3, "max_tokens": 48,
                             "messages": [{"role": "user", "content": "an object"}],
                             "response_format": {"type": "json_object"}})
    text = body["choices"][0]["message"]["content"]
    assert text.startswith("{")
    if body["choices"][0]["finish_reason"] == "stop":
        assert isinstance(json.loads(text), dict)
    body = chat(host.admin, {"max_tokens": 8, "grammar": 'root ::= "yes" | "no"',
                             "messages": [{"role": "user", "content": [
                                 {"type": "text", "text": "yes"}, {"type": "text", "text": "?"}]}]})
    assert body["choices"][0]["message"]["content"] in ("yes", "no")
    assert body["choices"][0]["finish_reason"] == "stop"


def test_the_conversation_prefix_is_kept_in_the_cache(host):
    """A conversation that grows by a turn does not read its start again."""
    turns = [{"role": "system", "content": "You answer questions about forms."},
             {"role": "user", "content": "What is a form?"}]
    first = chat(host.admin, {"temperature": 0, "max_tokens": 4, "messages": turns})
    turns += [{"role": "assistant", "content": first["choices"][0]["message"]["content"]},
              {"role": "user", "content": "And a field?"}]
    second = chat(host.admin, {"temperature": 0, "max_tokens": 4, "messages": turns})
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] > 0, second
    assert second["timings"]["cache_n"] == second["usage"]["prompt_tokens_details"]["cached_tokens"]


def test_models_lists_the_loaded_one(host):
    body = host.admin.get("/v1/ai/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [chat(host.admin, {
        "max_tokens": 1, "messages": [{"role": "user", "content": "a"}]})["model"]]


@pytest.mark.parametrize("body,needle", [
    ({}, "'messages'"),
    ({"messages": []}, "'messages'"),
    ({"messages": "hi"}, "'messages'"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "'role'"),
    ({"messages": [{"role": "user"}]}, "'content'"),
    ({"messages": [{"role": "user", "content": 5}]}, "'content'"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
     "text parts"),
    ({"messages": [{"role": "user", "content": "x"}], "stream": True}, "stream"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "'n'"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "'max_tokens'"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5000}, "'max_tokens'"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}, "'max_tokens'"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, "'temperature'"),
    ({"messages": [{"role": "user", "content": "x"}], "seed": -1}, "'seed'"),
    ({"messages": [{"role": "user", "content": "x"}], "model": 7}, "'model'"),
    ({"messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}},
     "response_format"),
    ({"messages": [{"role": "user", "content": "x"}],
      "response_format": {"type": "json_schema", "json_schema": {"schema": {"not": {}}}}},
     "'not'"),
    ({"messages": [{"role": "user", "content": "x"}],
      "response_format": {"type": "json_schema", "json_schema": {}}}, "schema"),
    ({"messages": [{"role": "user", "content": "x"}], "grammar": "root ::= ("}, "grammar"),
    ({"messages": [{"role": "user", "content": "x"}], "grammar": 'root ::= "a"',
      "response_format": {"type": "json_object"}}, "not both"),
    ({"messages": [{"role": "user", "content": "x" * (256 * 1024 + 1)}]}, "256 KiB"),
])
def test_bad_requests(host, body, needle):
    r = host.admin.post("/v1/ai/chat/completions", body)
    assert r.status_code in (400, 413), r.text
    assert needle in r.json()["detail"], r.json()


def test_access(host):
    problem(Client(host).post("/v1/ai/chat/completions",
                              {"messages": [{"role": "user", "content": "x"}]}), 401)
    pid = make_project(host.admin, "Chat")
    viewer = host.cli("admin", "create-key", "--name", "v", "--role", "viewer",
                      "--project", pid).stdout.strip()
    editor = host.cli("admin", "create-key", "--name", "e", "--role", "editor",
                      "--project", pid).stdout.strip()
    body = {"max_tokens": 2, "messages": [{"role": "user", "content": "x"}]}
    problem(host.admin.as_(viewer).post("/v1/ai/chat/completions", body), 403)
    assert host.admin.as_(editor).post("/v1/ai/chat/completions", body).status_code == 200


def test_without_a_model():
    with tempfile.TemporaryDirectory(prefix="formd-chat-plain-") as d:
        s = Server(os.path.join(d, "data")).start()
        try:
            admin = Client(s, s.admin_key)
            r = admin.post("/v1/ai/chat/completions",
                           {"messages": [{"role": "user", "content": "x"}]})
            problem(r, 503, "no_model")
            assert admin.get("/v1/ai/models").json() == {"object": "list", "data": []}
        finally:
            stop_clean(s)


def test_concurrent_completions_all_answer(host):
    """Completions run off the HTTP threads: many at once all get an answer
    (200, or 503 busy with Retry-After past the limit), and /healthz stays quick."""
    codes = []

    def one(i):
        r = host.admin.post("/v1/ai/chat/completions", {
            "max_tokens": 64, "seed": i, "messages": [{"role": "user", "content": f"n {i}"}]})
        codes.append((r.status_code, r.headers.get("Retry-After")))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    assert host.admin.get("/healthz").status_code == 200
    for t in threads:
        t.join()
    assert len(codes) == 12
    assert all(c == 200 or (c == 503 and ra) for c, ra in codes), codes
    assert any(c == 200 for c, _ in codes)


# ---- the openai provider, against formd's own endpoint ----

FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "age", "type": "integer", "min": 0, "max": 120},
    {"name": "contact", "type": "select", "options": ["email", "phone", "post"]},
]


@pytest.fixture(scope="module")
def client_formd(host):
    """A second formd whose AI runs through the first one's endpoint."""
    with tempfile.TemporaryDirectory(prefix="formd-chat-client-") as d:
        key_file = os.path.join(d, "key")
        with open(key_file, "w") as f:
            f.write(host.admin_key + "\n")
        os.chmod(key_file, 0o600)
        s = Server(os.path.join(d, "data"),
                   ["--ai-openai", f"{host.url}/v1/ai||{key_file}", "--allow-private-targets"]
                   ).start()
        s.admin = Client(s, s.admin_key)
        pid = make_project(s.admin, "Remote AI")
        r = s.admin.post(f"/v1/projects/{pid}/forms", {"name": "Contact", "fields": FIELDS})
        assert r.status_code == 201, r.text
        s.form = r.json()
        publish(s.admin, s.form["id"])
        yield s
        stop_clean(s)


def test_openai_provider_through_formds_endpoint(host, client_formd):
    """Extractions by the second formd come from the first one's model, under the
    grammar the provider sends, and are valid."""
    from_model = 0
    for text in ("Ada, ada@example.org, 36, phone me", "nothing useful here", "x" * 500):
        r = client_formd.admin.post(f"/v1/forms/{client_formd.form['id']}/ai/extract",
                                    {"text": text})
        assert r.status_code == 202, r.text
        t = wait_task(client_formd.admin, r.json()["task_id"])
        assert t["state"] == "completed", t
        res = t["result"]
        if res["source"] == "fallback":
            assert res["fallback_reason"].startswith("model"), res
            continue
        from_model += 1
        assert res["model"] == f"openai:127.0.0.1:{host.port}/default", res
        assert res["valid"] is True, res
        if "contact" in res["data"]:
            assert res["data"]["contact"] in ("email", "phone", "post")
    assert from_model > 0
    m = client_formd.admin.get("/metrics").text
    assert 'formd_ai_inference_seconds_count{provider="openai",task="extract"}' in m
    hm = host.admin.get("/metrics").text
    assert 'formd_ai_inference_seconds_count{provider="llama",task="chat"}' in hm


def test_openai_provider_reports_the_servers_refusal(host):
    """A key the serving formd does not know: the task falls back and says why."""
    with tempfile.TemporaryDirectory(prefix="formd-chat-badkey-") as d:
        key_file = os.path.join(d, "key")
        with open(key_file, "w") as f:
            f.write("fmd_not_a_real_key\n")
        s = Server(os.path.join(d, "data"),
                   ["--ai-openai", f"{host.url}/v1/ai||{key_file}", "--allow-private-targets"]
                   ).start()
        try:
            admin = Client(s, s.admin_key)
            r = admin.post("/v1/ai/generate-form", {"description": "a contact form"})
            assert r.status_code == 202, r.text
            t = wait_task(admin, r.json()["task_id"])
            assert t["state"] == "completed", t
            assert t["result"]["source"] == "fallback"
            assert "401" in t["result"]["fallback_reason"], t["result"]
        finally:
            stop_clean(s)
