"""AI tasks within limits: a model too slow for --ai-timeout gives way to the
rules fallback (and the metrics say why), and a cancelled AI task never runs,
or, once running, stops.

A slow model is the "1b" preset of `formd ai mkmodel` (TinyLlama's shape,
random weights, 1.2 GB written into a temporary directory in a few seconds):
on a CPU it reads a prompt at tens of tokens a second, so the few hundred
tokens of an extraction's prompt take seconds, far beyond the 100 ms minimum
of --ai-timeout.
"""
import os
import tempfile
import time

import pytest

from conftest import ASAN, Client, Server, make_model, stop_clean, wait_task
from test_ai import TEXT, extract, generate, setup_form


@pytest.fixture(scope="module")
def big_model():
    with tempfile.TemporaryDirectory(prefix="formd-model-1b-") as d:
        yield make_model("1b", d)


def serve(d, args):
    s = Server(os.path.join(d, "data"), args).start()
    s.admin, s.pid, s.form = setup_form(s)
    return s


stop = stop_clean


def metric_line(client, prefix):
    """The /metrics line starting with prefix (name and labels), or None."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(prefix + " "):
            return line
    return None


# ---- timeouts ----

def test_a_model_too_slow_for_the_timeout_gives_way_to_the_fallback(big_model):
    with tempfile.TemporaryDirectory(prefix="formd-ai-slow-") as d:
        s = serve(d, ["--ai-model", big_model, "--ai-threads", "1", "--ai-timeout", "100"])
        try:
            res = extract(s.admin, s.form)
            assert res["source"] == "fallback" and res["model"] == "rules", res
            assert res["fallback_reason"] == "model failed: model took longer than the time " \
                                              "allowed", res
            # what the fallback made of the text, whole and valid
            assert res["data"] == {"email": "ada@example.org", "age": 36, "contact": "phone"}
            assert res["valid"] is True and res["cached"] is False
            res = generate(s.admin, {"description": "A contact form with name and email"})
            assert res["source"] == "fallback", res
            assert "longer than the time allowed" in res["fallback_reason"], res
            # each timeout counted once, by task and reason; the model's attempt timed too
            a = s.admin
            assert metric_line(a, 'formd_ai_fallbacks_total{task="extract",reason="timeout"}') \
                == 'formd_ai_fallbacks_total{task="extract",reason="timeout"} 1'
            assert metric_line(a, 'formd_ai_fallbacks_total{task="generate_form",'
                                  'reason="timeout"}') \
                == 'formd_ai_fallbacks_total{task="generate_form",reason="timeout"} 1'
            assert metric_line(a, 'formd_ai_inference_seconds_count{provider="llama",'
                                  'task="extract"}').endswith(" 1")
            assert metric_line(a, 'formd_ai_fallbacks_total{task="extract",reason="error"}') \
                is None
            # a timed-out answer is not cached: the same text tries the model again
            res = extract(s.admin, s.form)
            assert res["source"] == "fallback" and res["cached"] is False
            assert metric_line(a, 'formd_ai_fallbacks_total{task="extract",reason="timeout"}') \
                .endswith(" 2")
        finally:
            stop(s)


# ---- cancellation ----

def test_an_ai_task_cancelled_before_it_runs_never_runs():
    with tempfile.TemporaryDirectory(prefix="formd-ai-cancel-") as d:
        s = serve(d, ["--workers", "0"])
        try:
            a = s.admin
            r = a.post(f"/v1/forms/{s.form['id']}/ai/extract", {"text": TEXT})
            assert r.status_code == 202, r.text
            doomed = r.json()["task_id"]
            r = a.post(f"/v1/forms/{s.form['id']}/ai/extract", {"text": TEXT + " Again."})
            kept = r.json()["task_id"]
            r = a.post(f"/v1/tasks/{doomed}/cancel")
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "cancelled" and r.json()["result"] is None, r.json()
        finally:
            stop(s)
        # the same data with workers: the other task runs, the cancelled one never does
        s = Server(s.data_dir, ["--workers", "1"]).start()
        try:
            a = Client(s, s.admin_key)
            t = wait_task(a, kept)
            assert t["state"] == "completed" and t["result"]["source"] == "fallback", t
            t = a.get(f"/v1/tasks/{doomed}").json()
            assert t["state"] == "cancelled", t
            assert t["result"] is None and t["attempts"] == 0, t
            assert metric_line(a, 'formd_ai_fallbacks_total{task="extract",reason="no_model"}') \
                .endswith(" 1")
            r = a.post(f"/v1/tasks/{doomed}/cancel")
            assert r.status_code == 409, r.text
        finally:
            stop(s)


def start_long_extraction(s):
    """Enqueues an extraction of a long text (about 1300 tokens: well inside the
    context, most of a minute to read) and returns its task id once the model is
    reading it."""
    text = " ".join(f"Ada Lovelace (ada{i}@example.org) is {i % 90} years old."
                    for i in range(60))
    r = s.admin.post(f"/v1/forms/{s.form['id']}/ai/extract", {"text": text})
    assert r.status_code == 202, r.text
    tid = r.json()["task_id"]
    deadline = time.time() + 30
    while s.admin.get(f"/v1/tasks/{tid}").json()["state"] != "running":
        assert time.time() < deadline, "the extraction never started"
        time.sleep(0.05)
    time.sleep(0.5)   # well inside reading the prompt
    return tid


def test_a_running_ai_task_cancelled_stops(big_model):
    """The model is busy reading a long text (a minute's work) when the task is
    cancelled: the inference stops, the task ends cancelled without a result, and
    the one worker is free for the next task within seconds."""
    with tempfile.TemporaryDirectory(prefix="formd-ai-cancel-run-") as d:
        s = serve(d, ["--ai-model", big_model, "--ai-threads", "1", "--workers", "1"])
        try:
            a = s.admin
            tid = start_long_extraction(s)
            r = a.post(f"/v1/tasks/{tid}/cancel")
            assert r.status_code == 200, r.text
            # the worker is free again when the next task (an export, no model) runs
            r = a.post(f"/v1/forms/{s.form['id']}/exports", {"format": "csv"})
            assert r.status_code == 202, r.text
            e = r.json()
            deadline = time.time() + (30 if ASAN else 10)
            while e["state"] == "pending" and time.time() < deadline:
                time.sleep(0.1)
                e = a.get(f"/v1/exports/{e['id']}").json()
            assert e["state"] == "ready", ("the cancelled inference kept the worker", e)
            t = a.get(f"/v1/tasks/{tid}").json()
            assert t["state"] == "cancelled" and t["result"] is None, t
            assert 'formd_ai_cache_total{task="extract",outcome="hit"} 0\n' in \
                a.get("/metrics").text
        finally:
            stop(s)


def test_stopping_the_server_stops_a_running_inference(big_model):
    """SIGTERM while the model reads a long text: the inference stops, the server
    exits cleanly, and the task, released, runs again after a restart."""
    with tempfile.TemporaryDirectory(prefix="formd-ai-term-") as d:
        s = serve(d, ["--ai-model", big_model, "--ai-threads", "1", "--workers", "1"])
        tid = start_long_extraction(s)
        # Server.stop sends SIGTERM and waits 30 s before SIGKILL (rc -9); the
        # inference alone would take the whole 60 s --ai-timeout
        stop(s)
        s = Server(s.data_dir, ["--workers", "1"]).start()   # no model now: the fallback
        try:
            t = wait_task(Client(s, s.admin_key), tid)
            assert t["state"] == "completed" and t["result"]["source"] == "fallback", t
            assert t["result"]["valid"] is True, t
        finally:
            stop(s)
