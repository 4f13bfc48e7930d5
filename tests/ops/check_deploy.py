#!/usr/bin/env python3
"""Checks of deploy/ that the tools alone do not make; run by scripts/check-deploy.

  check_deploy.py alerts        every alert: runbook_url into docs/operations.md (the
                                anchor exists), and a promtool test that fires it and
                                one that expects it quiet
  check_deploy.py dashboards    every dashboard panel queries a provisioned datasource;
                                ids and uids unique, no panels overlapping
  check_deploy.py compose FILE  the output of "docker-compose config": every service
                                hardened, limited, health-checked, restarted; every
                                secret file present
  check_deploy.py scripts       deploy/deploy.sh and deploy/rollback.sh against a fake
                                docker and docker-compose (tests/ops/fake-docker): the
                                order of backup, migrations and replacement, the state
                                they record, and the automatic rollback
  check_deploy.py live BIN      a real formd serve and a real Prometheus scraping it:
                                up{job="formd"} is 1 through Prometheus' API, and every
                                metric the rules and the dashboard use is in /metrics;
                                and deploy/nginx/nginx.conf run in front of it

Each prints one line per finding and exits 1 if there is any.
"""
import glob
import http.client as httpclient
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
RULES = sorted(glob.glob(os.path.join(DEPLOY, "prometheus", "rules", "*.yml")))
TESTS = sorted(glob.glob(os.path.join(DEPLOY, "prometheus", "tests", "*.yml")))
DASHBOARDS = sorted(glob.glob(os.path.join(DEPLOY, "grafana", "dashboards", "*.json")))
RUNBOOK = os.path.join(ROOT, "docs", "operations.md")
RUNBOOK_URL = "https://formd.dev/docs/operations.md#"

# Families that a short exercise of a model-less server cannot make appear,
# each with why. Every other name the rules and dashboard use must be in /metrics.
KNOWN_LAZY = {
    # every name the rules and dashboards use is registered at start (at zero):
    # a family that only appears once used would hide a broken alert
}

problems = []


def problem(msg):
    problems.append(msg)
    print("  " + msg)


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def alerts():
    """{name: rule} of every alerting rule."""
    out = {}
    for path in RULES:
        for group in load_yaml(path).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    out[rule["alert"]] = rule
    return out


# ---- alerts: runbooks and tests ----

def anchors(md_path):
    """Ids a link can point at: explicit <a id>, and GitHub's heading slugs."""
    with open(md_path) as f:
        text = f.read()
    ids = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        ids.add(slug)
    return ids


def check_alerts():
    rules = alerts()
    ids = anchors(RUNBOOK)
    for name, rule in sorted(rules.items()):
        ann = rule.get("annotations", {})
        url = ann.get("runbook_url", "")
        want = RUNBOOK_URL + "alert-" + name.lower()
        if url != want:
            problem(f"{name}: runbook_url is {url!r}, want {want!r}")
        elif "alert-" + name.lower() not in ids:
            problem(f"{name}: docs/operations.md has no anchor 'alert-{name.lower()}'")
        for key in ("summary", "description"):
            if not ann.get(key):
                problem(f"{name}: no {key} annotation")
        if "severity" not in rule.get("labels", {}):
            problem(f"{name}: no severity label")
    fires, quiet = set(), set()
    for path in TESTS:
        for test in load_yaml(path).get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    for name in sorted(rules):
        if name not in fires:
            problem(f"{name}: no promtool test where it fires")
        if name not in quiet and name != "Watchdog":   # the Watchdog is never quiet
            problem(f"{name}: no promtool test where it stays quiet")
    for name in sorted((fires | quiet) - set(rules)):
        problem(f"tests name an alert that does not exist: {name}")
    print(f"alerts: {len(rules)} alerts, runbook anchors and firing/quiet tests checked")


# ---- Grafana ----

def check_dashboards():
    uids = set()
    for path in glob.glob(os.path.join(DEPLOY, "grafana", "provisioning", "datasources", "*.yml")):
        uids |= {d.get("uid") for d in load_yaml(path).get("datasources", [])}
    providers = []
    for path in glob.glob(os.path.join(DEPLOY, "grafana", "provisioning", "dashboards", "*.yml")):
        providers += load_yaml(path).get("providers", [])
    if not providers:
        problem("grafana: no dashboard provider")
    seen_uids = set()
    for path in DASHBOARDS:
        rel = os.path.relpath(path, ROOT)
        with open(path) as f:
            dash = json.load(f)
        if not dash.get("uid") or dash["uid"] in seen_uids:
            problem(f"{rel}: missing or duplicate uid")
        seen_uids.add(dash.get("uid"))
        ids, cells = set(), set()
        for panel in dash.get("panels", []):
            title = panel.get("title")
            if panel.get("id") in ids:
                problem(f"{rel}: panel id {panel.get('id')} twice")
            ids.add(panel.get("id"))
            g = panel.get("gridPos", {})
            for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
                for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
                    if (x, y) in cells:
                        problem(f"{rel}: panel {title!r} overlaps another at {x},{y}")
                        break
                    cells.add((x, y))
            if panel.get("type") == "row":
                continue
            if (panel.get("datasource") or {}).get("uid") not in uids:
                problem(f"{rel}: panel {title!r} uses a datasource that is not provisioned")
            if not panel.get("targets") or not all(t.get("expr") for t in panel["targets"]):
                problem(f"{rel}: panel {title!r} has a target without a query")
    print(f"grafana: {len(DASHBOARDS)} dashboards against datasources {sorted(uids)}")


# ---- compose ----

# Services allowed to go without a healthcheck, and why.
NO_HEALTHCHECK = {
    "formd-worker": "serves no HTTP; FormdWorkersDown watches the queue",
    "models": "a one-off copy, not a long-running service",
}


def check_compose(config_path, secrets_dir):
    cfg = load_yaml(config_path)
    services = cfg.get("services", {})
    for name, svc in sorted(services.items()):
        if svc.get("read_only") is not True:
            problem(f"compose {name}: not read_only")
        if svc.get("cap_drop") != ["ALL"]:
            problem(f"compose {name}: cap_drop is not [ALL]")
        if "no-new-privileges:true" not in (svc.get("security_opt") or []):
            problem(f"compose {name}: no security_opt no-new-privileges:true")
        for key in ("mem_limit", "cpus", "pids_limit", "restart"):
            if not svc.get(key):
                problem(f"compose {name}: no {key}")
        hc = svc.get("healthcheck") or {}
        if hc.get("disable"):
            if name not in NO_HEALTHCHECK:
                problem(f"compose {name}: healthcheck disabled without a reason in this check")
        elif not hc.get("test"):
            problem(f"compose {name}: no healthcheck")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if not isinstance(cond, dict) or cond.get("condition") != "service_healthy":
                problem(f"compose {name}: depends_on {dep} without condition service_healthy")
            elif services.get(dep, {}).get("healthcheck", {}).get("disable"):
                problem(f"compose {name}: waits for {dep} to be healthy, which has no healthcheck")
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"(PASSWORD|SECRET|TOKEN|_KEY|DB_URL)$", key) and value:
                problem(f"compose {name}: {key} holds a secret inline; use {key}_FILE")
    for name, sec in sorted((cfg.get("secrets") or {}).items()):
        path = sec.get("file", "")
        if not path.startswith(secrets_dir + "/") or not os.path.isfile(path):
            problem(f"compose secret {name}: {path} is not one of the documented secret files")
    print(f"compose: {len(services)} services, {len(cfg.get('secrets') or {})} secrets checked")


# ---- live: formd + Prometheus ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(fn, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.25)
    raise RuntimeError(f"timed out waiting for {what} (last: {last!r})")


def exercise(url, key):
    """A few requests of each kind, so the lazily registered families appear."""
    st, body = http("POST", url + "/v1/projects", {"name": "ops"}, key)
    assert st == 201, body
    pid = json.loads(body)["id"]
    st, body = http("POST", f"{url}/v1/projects/{pid}/forms",
                    {"name": "Ops", "slug": "ops-check",
                     "fields": [{"name": "email", "type": "email", "required": True},
                                {"name": "age", "type": "integer"}]}, key)
    assert st == 201, body
    fid = json.loads(body)["id"]
    assert http("POST", f"{url}/v1/forms/{fid}/publish", token=key)[0] == 200
    st, body = http("POST", url + "/v1/public/forms/ops-check/submissions",
                    {"data": {"email": "ops@example.com", "age": 40}})
    assert st == 201, body
    http("GET", url + "/v1/nope")
    tasks = []
    st, body = http("POST", f"{url}/v1/forms/{fid}/exports", {"format": "csv"}, key)
    assert st == 202, body
    tasks.append(json.loads(body)["task_id"])
    st, body = http("POST", f"{url}/v1/forms/{fid}/ai/extract",
                    {"text": "Write to ops@example.com, I am 40."}, key)
    assert st == 202, body
    tasks.append(json.loads(body)["task_id"])
    for tid in tasks:
        wait_for(lambda: json.loads(http("GET", f"{url}/v1/tasks/{tid}", token=key)[1])
                 ["state"] in ("completed", "discarded"), 30, f"task {tid}")
    assert http("GET", f"{url}/v1/forms/{fid}/analytics", token=key)[0] == 200


def exposed_families(text):
    return set(re.findall(r"^# TYPE (\S+) \S+$", text, re.MULTILINE))


def used_names():
    """{metric name: where} of formd's and process_ names in rules and dashboards."""
    exprs = []
    for path in RULES:
        for group in load_yaml(path).get("groups", []):
            for rule in group.get("rules", []):
                exprs.append((os.path.relpath(path, ROOT), rule["expr"]))
    for path in DASHBOARDS:
        with open(path) as f:
            dash = json.load(f)
        for panel in dash.get("panels", []):
            for t in panel.get("targets", []):
                exprs.append((os.path.relpath(path, ROOT), t.get("expr", "")))
    names = {}
    for where, expr in exprs:
        # Recorded series (level:metric:operations) are not formd's own names.
        for name in re.findall(r"(?<![\w:])((?:formd|process)_\w*)(?![\w:])", expr):
            names.setdefault(name, where)
    return names


def family_of(name, families):
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            return name[: -len(suffix)]
    return None


def nginx_in_front(tmp, formd_port, procs):
    """deploy/nginx/nginx.conf run for real before formd: TLS, /metrics kept in,
    the HTTP redirect, and the public rate limit answering 429."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    d = os.path.join(tmp, "nginx")
    os.makedirs(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", os.path.join(d, "key.pem"),
                    "-out", os.path.join(d, "cert.pem")], check=True, capture_output=True)
    hport, sport = free_port(), free_port()
    with open(os.path.join(DEPLOY, "nginx", "nginx.conf")) as f:
        conf = f.read()
    for old, new in [("/tmp/", d + "/"), ("/run/secrets/tls_cert", d + "/cert.pem"),
                     ("/run/secrets/tls_key", d + "/key.pem"),
                     ("/dev/stdout", d + "/access.log"), ("/dev/stderr", d + "/error.log"),
                     ("listen 8080 ", f"listen 127.0.0.1:{hport} "),
                     ("listen 8443 ", f"listen 127.0.0.1:{sport} "),
                     ("http://formd:8080", f"http://127.0.0.1:{formd_port}")]:
        assert old in conf, f"nginx.conf no longer has {old!r}: update this check"
        conf = conf.replace(old, new)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    procs.append(subprocess.Popen([nginx, "-c", os.path.join(d, "nginx.conf"), "-p", d + "/",
                                   "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(d, "stderr.log"), "wb")))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def tls_get(path, conn=None):
        c = conn or httpclient.HTTPSConnection("127.0.0.1", sport, context=ctx, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return c, r

    c, r = wait_for(lambda: tls_get("/healthz"), 15, "nginx over TLS")
    assert r.status == 200, f"/healthz through nginx: {r.status}"
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3"), c.sock.version()
    assert r.getheader("Strict-Transport-Security"), "no HSTS header"
    assert r.getheader("X-Request-Id"), "formd's X-Request-Id did not come through"
    _, r = tls_get("/metrics", c)
    assert r.status == 404, f"/metrics through nginx: {r.status}, want 404"
    p = httpclient.HTTPConnection("127.0.0.1", hport, timeout=5)
    p.request("GET", "/v1/projects")
    r = p.getresponse()
    assert r.status == 308 and r.getheader("Location", "").startswith("https://"), r.status
    codes = [tls_get("/v1/public/forms/nope", c)[1].status for _ in range(40)]
    assert 429 in codes and 404 in codes, f"40 quick public requests gave {sorted(set(codes))}"
    print(f"live: nginx {sport} in front of formd: {c.sock.version()}, HSTS, /metrics 404, "
          f"HTTP 308 to HTTPS, {codes.count(429)} of 40 quick public requests 429")


def check_live(binary):
    prometheus = shutil.which("prometheus")
    if not prometheus:
        problem("live: no prometheus binary (Debian package prometheus)")
        return
    tmp = tempfile.mkdtemp(prefix="formd-check-deploy-")
    procs = []
    try:
        port, pport = free_port(), free_port()
        url = f"http://127.0.0.1:{port}"
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        log = open(os.path.join(tmp, "formd.log"), "wb")
        procs.append(subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}",
                                       "--data-dir", data], stdout=log, stderr=log))
        wait_for(lambda: http("GET", url + "/healthz", timeout=1)[0] == 200, 30, "formd /healthz")
        key = open(os.path.join(data, "admin.key")).read().strip()
        exercise(url, key)

        # Prometheus with the real rules, scraping this formd every second.
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": RULES,
                  "scrape_configs": [{"job_name": "formd",
                                      "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]}
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            yaml.safe_dump(config, f)
        plog = open(os.path.join(tmp, "prometheus.log"), "wb")
        procs.append(subprocess.Popen(
            [prometheus, "--config.file", os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path", os.path.join(tmp, "tsdb"),
             "--web.listen-address", f"127.0.0.1:{pport}"], stdout=plog, stderr=plog))
        papi = f"http://127.0.0.1:{pport}/api/v1/"

        def query(q):
            st, body = http("GET", papi + "query?" + urllib.parse.urlencode({"query": q}),
                            timeout=2)
            return json.loads(body)["data"]["result"] if st == 200 else None

        up = wait_for(lambda: query('up{job="formd"} == 1'), 40, 'up{job="formd"} == 1')
        print(f"live: Prometheus {pport} scrapes formd {port}: up = {up[0]['value'][1]}")
        got = wait_for(lambda: query('formd_http_requests_total{route="/v1/projects"}'), 20,
                       "formd_http_requests_total through Prometheus")
        print(f"live: formd_http_requests_total{{route=\"/v1/projects\"}} has "
              f"{len(got)} series in Prometheus")
        st, body = http("GET", papi + "rules")
        groups = json.loads(body)["data"]["groups"]
        nrules = sum(len(g["rules"]) for g in groups)
        print(f"live: Prometheus loaded {len(groups)} rule groups, {nrules} rules")

        nginx_in_front(tmp, port, procs)

        families = exposed_families(http("GET", url + "/metrics")[1])
        names = used_names()
        missing = lazy = 0
        for name, where in sorted(names.items()):
            if family_of(name, families):
                continue
            if name in KNOWN_LAZY:
                print(f"live: {name} not exposed yet (known lazy: {KNOWN_LAZY[name]})")
                lazy += 1
                continue
            problem(f"{name} (used in {where}) is not in formd's /metrics")
            missing += 1
        for name in sorted(set(KNOWN_LAZY) - set(names)):
            problem(f"KNOWN_LAZY lists {name}, which no rule or dashboard uses")
        print(f"live: {len(names)} metric names used by rules and dashboards: "
              f"{len(names) - missing - lazy} in /metrics, {lazy} known lazy, {missing} missing")
    except (RuntimeError, AssertionError, OSError, subprocess.CalledProcessError) as e:
        problem(f"live: {e}")
        for logname in ("formd.log", "prometheus.log", "nginx/stderr.log", "nginx/error.log"):
            p = os.path.join(tmp, logname)
            if os.path.exists(p):
                print(f"--- {logname} (tail)\n" + open(p, errors="replace").read()[-2000:])
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


# ---- deploy.sh and rollback.sh, on a fake Docker ----

def check_scripts():
    tmp = tempfile.mkdtemp(prefix="formd-check-scripts-")
    try:
        bindir, st = os.path.join(tmp, "bin"), os.path.join(tmp, "fake")
        os.makedirs(bindir)
        os.makedirs(st)
        for name in ("docker", "docker-compose"):
            os.symlink(os.path.join(ROOT, "tests", "ops", "fake-docker"), os.path.join(bindir, name))
        for tag, latest in (("v1", 7), ("v2", 8), ("v3", 9)):
            with open(os.path.join(st, "latest_" + tag), "w") as f:
                f.write(f"{latest}\n")
        log = os.path.join(tmp, "calls.log")
        state = os.path.join(tmp, "state")
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], FAKE_LOG=log,
                   FAKE_STATE=st, FORMD_STATE_DIR=state, FORMD_HEALTH_TIMEOUT="6",
                   FORMD_BACKUP_DIR=os.path.join(tmp, "backups"), FORMD_PROFILES="monitoring")

        def run(script, *args):
            open(log, "w").close()
            r = subprocess.run([os.path.join(DEPLOY, script), *args], env=env,
                               capture_output=True, text=True, timeout=120)
            with open(log) as f:
                return r, f.read().splitlines()

        def read(path):
            p = os.path.join(state, path)
            return open(p).read().strip() if os.path.exists(p) else None

        def running():
            return open(os.path.join(st, "running_tag")).read().strip()

        def order(calls, *needles):
            """Each needle is in some call, in this order."""
            at = -1
            for n in needles:
                found = [i for i, c in enumerate(calls) if n in c and i > at]
                if not found:
                    return False
                at = found[0]
            return True

        def expect(cond, what, r=None, calls=()):
            if not cond:
                detail = (r.stderr[-1500:] if r else "") + "\n".join(calls[-30:])
                problem(f"scripts: {what}\n{detail}")

        # First deploy: nothing runs, nothing to back up or remember.
        r, calls = run("deploy.sh", "--tag", "v1")
        expect(r.returncode == 0, "first deploy failed", r, calls)
        expect(read("current") == "v1 7" and read("previous") is None,
               f"after the first deploy: current {read('current')!r}, previous {read('previous')!r}")
        expect(not any(" exec " in c for c in calls), "first deploy ran a backup", r, calls)
        expect(order(calls, "FORMD_TAG=v1 config -q (profiles: monitoring)", "docker FORMD_TAG= build",
                     "FORMD_TAG=v1 run --rm --no-deps -T formd migrate up", "FORMD_TAG=v1 up -d"),
               "first deploy: not config, build, migrate, up", r, calls)
        # Second: back up, migrate while v1 serves, replace, remember v1.
        r, calls = run("deploy.sh", "--tag", "v2")
        expect(r.returncode == 0, "second deploy failed", r, calls)
        expect(read("current") == "v2 8" and read("previous") == "v1 7",
               f"after the second deploy: current {read('current')!r}, previous {read('previous')!r}")
        expect(order(calls, "build", "exec -T formd formd backup --data-dir /var/lib/formd",
                     "docker FORMD_TAG= cp fakecid:/var/lib/formd/backups/pre-deploy-v2.backup",
                     "FORMD_TAG=v2 run --rm --no-deps -T formd migrate up", "FORMD_TAG=v2 up -d"),
               "second deploy: not build, backup, migrate, up", r, calls)
        expect(os.path.exists(os.path.join(tmp, "backups", "pre-deploy-v2.backup")),
               "the pre-deploy backup was not copied out")
        # Rollback: stop, down with the newer image to v1's version, start v1.
        r, calls = run("rollback.sh")
        expect(r.returncode == 0, "rollback failed", r, calls)
        expect(order(calls, "formd backup", "stop formd",
                     "FORMD_TAG=v2 run --rm --no-deps -T formd migrate down --to 7",
                     "FORMD_TAG=v1 up -d --no-build formd"),
               "rollback: not backup, stop, migrate down (v2) to 7, up v1", r, calls)
        expect(read("current") == "v1 7" and read("previous") is None and running() == "v1",
               f"after rollback: current {read('current')!r}, previous {read('previous')!r}")
        r, calls = run("rollback.sh")
        expect(r.returncode != 0 and "no previous release" in r.stderr,
               "a second rollback did not refuse", r, calls)
        # A deploy whose container never gets healthy rolls itself back.
        expect(run("deploy.sh", "--tag", "v2")[0].returncode == 0, "redeploy of v2 failed")
        with open(os.path.join(st, "unhealthy_tag"), "w") as f:
            f.write("v3\n")
        r, calls = run("deploy.sh", "--tag", "v3")
        expect(r.returncode != 0, "an unhealthy deploy exited 0", r, calls)
        expect(order(calls, "FORMD_TAG=v3 up -d", "stop formd",
                     "FORMD_TAG=v3 run --rm --no-deps -T formd migrate down --to 8",
                     "FORMD_TAG=v2 up -d --no-build formd"),
               "unhealthy deploy: no automatic rollback to v2", r, calls)
        expect(running() == "v2" and read("current") == "v2 8",
               f"after the automatic rollback: running {running()!r}, current {read('current')!r}")
        r, calls = run("deploy.sh", "--bogus")
        expect(r.returncode != 0 and "--bogus" in r.stderr, "deploy.sh took an unknown flag", r)
        print("scripts: deploy, deploy, rollback, refused rollback, automatic rollback checked")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    if len(argv) >= 2 and argv[1] == "alerts":
        check_alerts()
    elif len(argv) == 4 and argv[1] == "compose":
        check_compose(argv[2], argv[3])
    elif len(argv) == 2 and argv[1] == "dashboards":
        check_dashboards()
    elif len(argv) == 2 and argv[1] == "scripts":
        check_scripts()
    elif len(argv) == 3 and argv[1] == "live":
        check_live(argv[2])
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
