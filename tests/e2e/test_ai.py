"""AI on the CPU end to end: extraction as a task, with a real in-process model
(a random-weight llama GGUF made by `formd ai mkmodel`, run by llama.cpp) and
with the rules fallback when no model is configured.

A random-weight model writes nonsense, but under the grammar compiled from
the form's schema its nonsense always parses and validates: that is what is
checked. What the fallback extracts is checked value by value.
"""
import json
import os
import subprocess
import tempfile
import time

import pytest

from conftest import (ASAN, BIN, Client, Server, make_project, problem, publish, stop_clean,
                      wait_task)

FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "age", "type": "integer", "min": 0, "max": 120},
    {"name": "contact", "type": "select", "options": ["email", "phone", "post"]},
]
TEXT = ("Hello, this is Ada Lovelace. You can reach me at ada@example.org, "
        "age: 36. Please contact me by phone.")


def setup_form(s):
    admin = Client(s, s.admin_key)
    pid = make_project(admin, "AI")
    r = admin.post(f"/v1/projects/{pid}/forms", {"name": "Contact", "fields": FIELDS})
    assert r.status_code == 201, r.text
    form = r.json()
    publish(admin, form["id"])
    return admin, pid, form


def extract(admin, form, text=TEXT):
    r = admin.post(f"/v1/forms/{form['id']}/ai/extract", {"text": text})
    assert r.status_code == 202, r.text
    body = r.json()
    assert r.headers["Location"] == f"/v1/tasks/{body['task_id']}"
    t = wait_task(admin, body["task_id"])
    assert t["state"] == "completed", t
    return t["result"]


@pytest.fixture(scope="module")
def plain():
    """A server without a model: the rules fallback answers."""
    with tempfile.TemporaryDirectory(prefix="formd-ai-") as d:
        s = Server(os.path.join(d, "data")).start()
        s.admin, s.pid, s.form = setup_form(s)
        yield s
        stop_clean(s)


@pytest.fixture(scope="module")
def modelled(tiny_model):
    """A server with the tiny model in process."""
    with tempfile.TemporaryDirectory(prefix="formd-ai-model-") as d:
        s = Server(os.path.join(d, "data"), ["--ai-model", tiny_model, "--ai-threads", "1"]).start()
        s.admin, s.pid, s.form = setup_form(s)
        yield s
        stop_clean(s)


def test_fallback_extracts_by_field_formats(plain):
    res = extract(plain.admin, plain.form)
    assert res["source"] == "fallback" and res["model"] == "rules"
    assert res["fallback_reason"] == "no model is configured"
    assert res["data"] == {"email": "ada@example.org", "age": 36, "contact": "phone"}
    assert res["valid"] is True and res["errors"] == []
    assert res["machine_made"] is True and res["review"] == "pending"
    assert res["form_version"] == 1


def test_fallback_draft_says_what_is_missing(plain):
    res = extract(plain.admin, plain.form, "Nothing useful here, sorry.")
    assert res["source"] == "fallback"
    assert res["valid"] is False
    assert any(e["keyword"] == "required" for e in res["errors"]), res


def test_fallbacks_are_counted(plain):
    extract(plain.admin, plain.form)
    m = plain.admin.get("/metrics").text
    assert 'formd_ai_fallbacks_total{task="extract",reason="no_model"}' in m, m


def test_model_output_always_validates(modelled):
    """Whatever the random weights write, a result from the model is valid; when
    the model runs out of tokens the fallback answers and says why."""
    sources = []
    for text in (TEXT, "ünïcödé and \"quotes\" and {braces}", "x" * 2000, "short"):
        res = extract(modelled.admin, modelled.form, text)
        sources.append(res["source"])
        if res["source"] == "fallback":
            assert res["fallback_reason"].startswith("model"), res
            continue
        assert res["model"].startswith("tiny.gguf")
        assert res["valid"] is True, res
        assert isinstance(res["data"], dict)
        if "age" in res["data"]:
            assert 0 <= res["data"]["age"] <= 120
        if "contact" in res["data"]:
            assert res["data"]["contact"] in ("email", "phone", "post")
    assert "model" in sources, sources
    m = modelled.admin.get("/metrics").text
    assert 'formd_ai_inference_seconds_count{provider="llama",task="extract"}' in m, m
    assert 'formd_ai_tokens_total{kind="generated"}' in m


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": 5}, {"text": "x" * (64 * 1024 + 1)},
                                  {"text": "a", "extra": 1}])
def test_extract_bad_bodies(plain, body):
    problem(plain.admin.post(f"/v1/forms/{plain.form['id']}/ai/extract", body), 400)


def test_extract_access_and_state(plain):
    admin = plain.admin
    problem(admin.post("/v1/forms/01ARZ3NDEKTSV4RRFFQ69G5FAV/ai/extract", {"text": "a"}), 404)
    problem(Client(plain).post(f"/v1/forms/{plain.form['id']}/ai/extract", {"text": "a"}), 401)
    viewer = plain.cli("admin", "create-key", "--name", "v", "--role", "viewer", "--project",
                       plain.pid).stdout.strip()
    problem(admin.as_(viewer).post(f"/v1/forms/{plain.form['id']}/ai/extract", {"text": "a"}),
            403)
    r = admin.post(f"/v1/projects/{plain.pid}/forms", {"name": "Draft", "fields": FIELDS})
    problem(admin.post(f"/v1/forms/{r.json()['id']}/ai/extract", {"text": "a"}), 409,
            "not_published")


def test_a_missing_model_fails_the_start():
    with tempfile.TemporaryDirectory(prefix="formd-ai-bad-") as d:
        r = subprocess.run([BIN, "serve", "--data-dir", os.path.join(d, "data"), "--listen",
                            "127.0.0.1:0", "--ai-model", os.path.join(d, "nope.gguf")],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert "nope.gguf" in r.stderr, r.stderr


@pytest.mark.parametrize("args, needle", [
    (["--preset", "huge", "--out", "/tmp/x.gguf"], "preset 'huge'"),
    (["--out", "/tmp/x.gguf"], "usage"),
    (["--preset", "tiny", "--out", "/nonexistent-dir/x.gguf"], "nonexistent-dir"),
])
def test_mkmodel_bad_arguments(args, needle):
    r = subprocess.run([BIN, "ai", "mkmodel", *args], capture_output=True, text=True)
    assert r.returncode == 1 and needle in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_model_answers_are_cached(modelled):
    """The same text for the same form and model is answered from the cache."""
    text = "Ada again: ada@example.org, age 36."
    first = extract(modelled.admin, modelled.form, text)
    second = extract(modelled.admin, modelled.form, text)
    if first["source"] != "model":
        pytest.skip("the random model ran out of tokens on this text")
    assert first["cached"] is False and second["cached"] is True
    assert second["data"] == first["data"]
    other = extract(modelled.admin, modelled.form, text + " ")
    assert other["cached"] is False
    m = modelled.admin.get("/metrics").text
    assert 'formd_ai_cache_total{task="extract",outcome="hit"}' in m, m


def test_fallback_answers_are_not_cached(plain):
    a = extract(plain.admin, plain.form)
    b = extract(plain.admin, plain.form)
    assert a["cached"] is False and b["cached"] is False


# ---- classification ----

CATEGORIES = {"ai": {"classify": {"categories": [
    {"name": "billing", "description": "payments and invoices",
     "keywords": ["invoice", "charged", "refund"]},
    {"name": "delivery", "keywords": ["late", "parcel", "courier"]},
    {"name": "other"}]}}}


def classify_form(s):
    admin = s.admin
    r = admin.post(f"/v1/projects/{s.pid}/forms", {
        "name": "Support", "settings": CATEGORIES,
        "fields": [{"name": "message", "type": "textarea", "required": True}]})
    assert r.status_code == 201, r.text
    form = r.json()
    publish(admin, form["id"])
    return form


def submit(admin, form, message):
    r = admin.post(f"/v1/public/forms/{form['slug']}/submissions", {"data": {"message": message}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def classify(admin, form, sid):
    r = admin.post(f"/v1/forms/{form['id']}/ai/classify", {"submission_id": sid})
    assert r.status_code == 202, r.text
    t = wait_task(admin, r.json()["task_id"])
    assert t["state"] == "completed", t
    return t["result"]


def test_fallback_classifies_by_keywords(plain):
    form = classify_form(plain)
    res = classify(plain.admin, form, submit(plain.admin, form, "I was charged twice, refund!"))
    assert res["category"] == "billing" and res["source"] == "fallback", res
    assert "charged" in res["reason"]
    res = classify(plain.admin, form, submit(plain.admin, form, "My parcel is late"))
    assert res["category"] == "delivery", res
    res = classify(plain.admin, form, submit(plain.admin, form, "Lovely weather"))
    assert res["category"] == "other", res


def test_model_picks_one_of_the_categories(modelled):
    form = classify_form(modelled)
    sid = submit(modelled.admin, form, "I was charged twice")
    res = classify(modelled.admin, form, sid)
    assert res["category"] in ("billing", "delivery", "other"), res
    assert res["submission_id"] == sid
    if res["source"] == "model":
        assert 1 <= len(res["reason"]) <= 200


def test_classify_bad_requests(plain):
    admin = plain.admin
    form = classify_form(plain)
    problem(admin.post(f"/v1/forms/{form['id']}/ai/classify", {}), 400)
    problem(admin.post(f"/v1/forms/{form['id']}/ai/classify",
                       {"submission_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}), 404)
    other = submit(admin, classify_form(plain), "x")   # a submission of another form
    problem(admin.post(f"/v1/forms/{form['id']}/ai/classify", {"submission_id": other}), 404)
    # a form without categories
    r = admin.post(f"/v1/public/forms/{plain.form['slug']}/submissions",
                   {"data": {"email": "a@b.org"}})
    problem(admin.post(f"/v1/forms/{plain.form['id']}/ai/classify",
                       {"submission_id": r.json()["id"]}), 409, "no_categories")


@pytest.mark.parametrize("ai", [
    "x", {"classify": []}, {"classify": {"categories": []}},
    {"classify": {"categories": [{"name": ""}]}},
    {"classify": {"categories": [{"name": "a"}, {"name": "a"}]}},
    {"classify": {"categories": [{"name": "a", "keywords": "k"}]}},
    {"classify": {"categories": [{"name": "a"}], "auto": "yes"}},
])
def test_bad_ai_settings(plain, ai):
    r = plain.admin.post(f"/v1/projects/{plain.pid}/forms", {
        "name": "Bad", "settings": {"ai": ai}, "fields": [{"name": "m", "type": "text"}]})
    p = problem(r, 400)
    assert "settings.ai" in p["detail"], p


def test_auto_classification_of_every_new_submission(plain):
    admin = plain.admin
    settings = json.loads(json.dumps(CATEGORIES))
    settings["ai"]["classify"]["auto"] = True
    r = admin.post(f"/v1/projects/{plain.pid}/forms", {
        "name": "Auto", "settings": settings,
        "fields": [{"name": "message", "type": "textarea", "required": True}]})
    form = r.json()
    publish(admin, form["id"])
    sid = submit(admin, form, "Where is my parcel? The courier is late.")
    deadline = time.time() + (60 if ASAN else 30)
    found = None
    while time.time() < deadline and not found:
        for t in admin.get("/v1/tasks?kind=ai.classify&limit=200").json()["items"]:
            if t["state"] == "completed" and t["result"]["submission_id"] == sid:
                found = t
        time.sleep(0.2)
    assert found, "no ai.classify task ran for the new submission"
    assert found["result"]["category"] == "delivery", found
    # a form without "auto" enqueues nothing
    other = classify_form(plain)
    sid2 = submit(admin, other, "I was charged twice")
    time.sleep(0.5)
    tasks = admin.get("/v1/tasks?kind=ai.classify&limit=200").json()["items"]
    assert not any(t["result"] and t["result"].get("submission_id") == sid2 for t in tasks)


# ---- form generation ----

def generate(admin, body):
    r = admin.post("/v1/ai/generate-form", body)
    assert r.status_code == 202, r.text
    t = wait_task(admin, r.json()["task_id"])
    assert t["state"] == "completed", t
    return t["result"]


def test_fallback_generates_a_form_that_works(plain):
    res = generate(plain.admin, {"description": "A contact form with name, email (required), "
                                                "phone number, and choose one of sales, support "
                                                "or billing. Would you recommend us?"})
    assert res["source"] == "fallback"
    names = {f["name"]: f for f in res["fields"]}
    assert names["email"]["type"] == "email" and names["email"].get("required") is True
    assert any(f["type"] == "select" and f["options"] == ["sales", "support", "billing"]
               for f in res["fields"]), res["fields"]
    assert any(f["type"] == "checkbox" for f in res["fields"]), res["fields"]
    # the draft is a form formd takes as it is
    r = plain.admin.post(f"/v1/projects/{plain.pid}/forms",
                         {"name": "Generated", "fields": res["fields"]})
    assert r.status_code == 201, r.text
    assert res["schema"]["type"] == "object"


def test_model_generates_fields_that_compile(modelled):
    res = generate(modelled.admin, {"description": "An event sign-up form",
                                    "project_id": modelled.pid})
    r = modelled.admin.post(f"/v1/projects/{modelled.pid}/forms",
                            {"name": "Generated", "fields": res["fields"]})
    assert r.status_code == 201, (res, r.text)


def test_generated_forms_come_from_the_model(modelled):
    """The answer schema of ai.generate_form is inside the grammar subset, so the
    model writes under a grammar and its fields often compile (some are refused:
    a grammar cannot keep names unique or give a choice its options). The model
    is greedy, so this is the same every run."""
    sources = []
    for what in ("An event sign-up form", "A job application", "A customer survey",
                 "A bug report with steps", "A caf\u00e9 order", "A newsletter opt-in"):
        res = generate(modelled.admin, {"description": what})
        sources.append((res["source"], res["fallback_reason"]))
        if res["source"] == "model":
            assert res["fallback_reason"] == "" and res["model"].startswith("tiny.gguf")
        else:
            assert res["fallback_reason"].startswith("model output is not"), res
    assert any(src == "model" for src, _ in sources), sources


def test_generate_form_bad_requests(plain):
    admin = plain.admin
    problem(admin.post("/v1/ai/generate-form", {}), 400)
    problem(admin.post("/v1/ai/generate-form", {"description": ""}), 400)
    problem(admin.post("/v1/ai/generate-form", {"description": "x", "project_id": 5}), 400)
    problem(admin.post("/v1/ai/generate-form", {"description": "x", "extra": 1}), 400)
    problem(Client(plain).post("/v1/ai/generate-form", {"description": "x"}), 401)
    editor = plain.cli("admin", "create-key", "--name", "e", "--role", "editor", "--project",
                       plain.pid).stdout.strip()
    problem(admin.as_(editor).post("/v1/ai/generate-form", {"description": "x"}), 403)
    other = make_project(admin, "Not theirs")
    problem(admin.as_(editor).post("/v1/ai/generate-form",
                                   {"description": "x", "project_id": other}), 404)
    r = admin.as_(editor).post("/v1/ai/generate-form",
                               {"description": "a survey", "project_id": plain.pid})
    assert r.status_code == 202, r.text


# ---- summaries ----

def test_summarize_the_text_answers(plain):
    admin = plain.admin
    r = admin.post(f"/v1/projects/{plain.pid}/forms", {
        "name": "Feedback", "fields": [{"name": "comment", "type": "textarea"},
                                        {"name": "score", "type": "integer"}]})
    form = r.json()
    publish(admin, form["id"])
    lines = ["The delivery was late again.", "Great service, friendly staff.",
             "Delivery late, but staff friendly.", "Prices are too high.",
             "The app crashed twice during checkout."]
    for i in range(60):
        r = admin.post(f"/v1/public/forms/{form['slug']}/submissions",
                       {"data": {"comment": lines[i % len(lines)] + f" ({i})", "score": i % 5}})
        assert r.status_code == 201
    r = admin.post(f"/v1/forms/{form['id']}/ai/summarize", {"field": "comment"})
    assert r.status_code == 202, r.text
    t = wait_task(admin, r.json()["task_id"])
    assert t["state"] == "completed", t
    res = t["result"]
    assert res["answers"] == 60 and res["chunks"] >= 1
    assert res["source"] == "fallback" and res["summary"]
    assert "late" in res["summary"].lower() or "delivery" in res["summary"].lower(), res
    for bad in ({"field": ""}, {"from": "soon"},
                {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"x": 1}):
        problem(admin.post(f"/v1/forms/{form['id']}/ai/summarize", bad), 400)


def test_summarize_with_the_model(modelled):
    admin = modelled.admin
    for i in range(30):
        admin.post(f"/v1/public/forms/{modelled.form['slug']}/submissions",
                   {"data": {"email": f"p{i}@example.org", "contact": "email"}})
    r = admin.post(f"/v1/forms/{modelled.form['id']}/ai/summarize", {})
    t = wait_task(admin, r.json()["task_id"])
    assert t["state"] == "completed", t
    assert t["result"]["answers"] >= 30
    assert t["result"]["source"] in ("model", "mixed", "fallback")


# ---- scanned pages ----

def page_png(lines):
    """A PNG of the lines, drawn with PIL and DejaVu Sans (Debian packages)."""
    code = ("import io, sys, base64\n"
            "from PIL import Image, ImageDraw, ImageFont\n"
            "lines = sys.argv[1:]\n"
            "font = ImageFont.truetype('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', 32)\n"
            "img = Image.new('RGB', (900, 60 + 50 * len(lines)), 'white')\n"
            "d = ImageDraw.Draw(img)\n"
            "for i, l in enumerate(lines):\n"
            "    d.text((30, 30 + 50 * i), l, fill='black', font=font)\n"
            "buf = io.BytesIO(); img.save(buf, 'PNG')\n"
            "sys.stdout.write(base64.b64encode(buf.getvalue()).decode())\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, *lines], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_extract_from_a_scanned_page(plain):
    image = page_png(["Email: ada@example.org", "Age: 36", "Contact by phone"])
    r = plain.admin.post(f"/v1/forms/{plain.form['id']}/ai/extract", {"image": image})
    assert r.status_code == 202, r.text
    t = wait_task(plain.admin, r.json()["task_id"])
    assert t["state"] == "completed", t
    res = t["result"]
    assert "ada@example.org" in res["ocr"]["text"], res["ocr"]
    assert res["ocr"]["confidence"] > 50
    assert res["data"].get("email") == "ada@example.org", res
    assert res["data"].get("age") == 36, res


def test_extract_refuses_what_is_no_image(plain):
    admin = plain.admin
    problem(admin.post(f"/v1/forms/{plain.form['id']}/ai/extract", {"image": "not base64!"}), 400)
    # "hello world": base64, but no image; its header is checked before a task is made
    p = problem(admin.post(f"/v1/forms/{plain.form['id']}/ai/extract",
                           {"image": "aGVsbG8gd29ybGQ="}), 400)
    assert "not an image" in p["detail"], p


def test_ocr_task_kind(plain):
    image = page_png(["Email: grace@example.org", "Age: 45"])
    r = plain.admin.post(f"/v1/forms/{plain.form['id']}/ai/ocr", {"image": image})
    assert r.status_code == 202 and r.json()["kind"] == "ai.ocr", r.text
    t = wait_task(plain.admin, r.json()["task_id"])
    assert t["state"] == "completed" and t["kind"] == "ai.ocr", t
    assert t["result"]["data"].get("email") == "grace@example.org", t["result"]
    problem(plain.admin.post(f"/v1/forms/{plain.form['id']}/ai/ocr", {"text": "no image"}), 400)
