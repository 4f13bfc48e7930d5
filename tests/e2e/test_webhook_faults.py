"""The queue's promise under crashes: kill -9 the server several times while
clients submit and the receiver fails a quarter of the first deliveries. Afterwards every
acknowledged submission was delivered at least once with a valid signature,
deduplicating by webhook-id counts each exactly once, and no task is left
running or lost.
"""
import threading
import time

import requests

from conftest import Client, Server, make_form, make_project, publish
from webhook_receiver import Receiver

ROUNDS = 3
SECONDS_PER_ROUND = 1.5
CLIENTS = 4


def post_until(server, stop, acked, lock):
    s = requests.Session()
    while not stop.is_set():
        try:
            r = s.post(f"{server.url}/v1/public/forms/crash/submissions",
                       json={"data": {"email": "a@b.org", "age": 30}}, timeout=5)
        except requests.RequestException:
            return                       # the server died under us
        if r.status_code == 201:
            with lock:
                acked.append(r.json()["id"])


def test_kill9_loses_no_webhook(tmp_path):
    receiver = Receiver()
    data = str(tmp_path / "data")
    args = ["--allow-private-targets", "--task-lease", "2", "--workers", "4"]
    acked, lock = [], threading.Lock()
    server = None
    try:
        server = Server(data, args).start()
        admin = Client(server, server.admin_key)
        pid = make_project(admin, "Crash")
        f = make_form(admin, pid, slug="crash")
        publish(admin, f["id"])
        hook = admin.post(f"/v1/forms/{f['id']}/webhooks",
                          {"url": receiver.url, "events": ["submission.created"]}).json()
        receiver.secret = hook["secret"]
        # A quarter of the messages fail their first delivery (retried within
        # about a second); crashes add the rest of the disorder.
        receiver.fail_first = 0.25

        for round_ in range(ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=post_until, args=(server, stop, acked, lock))
                       for _ in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(SECONDS_PER_ROUND)
            server.kill9()                      # mid-flight: posts and deliveries under way
            stop.set()
            for t in threads:
                t.join()
            server = Server(data, args).start()
        admin = Client(server, server.admin_key)
        assert len(acked) > 50, "too little load to mean anything"

        def delivered(got):
            ok = {g["body"]["data"]["id"] for g in got if g["status"] == 200 and g["valid"]}
            return set(acked) <= ok
        got = receiver.wait_for(delivered, seconds=120)

        # Deduplicating by webhook-id, each submission arrived exactly once.
        by_sid = {}
        for g in got:
            if g["status"] == 200:
                by_sid.setdefault(g["body"]["data"]["id"], set()).add(g["msg_id"])
        assert all(len(ids) == 1 for ids in by_sid.values()), by_sid
        assert all(g["valid"] for g in got)

        # Every stored submission has its one task, and none is left unfinished.
        deadline = time.time() + 60
        while True:
            subs = int(server.sql("SELECT COUNT(*) FROM submissions")[0][0])
            # formd's own periodic tasks (analytics.etl, ...) run beside them
            tasks = {state: int(n) for state, n in
                     server.sql("SELECT state, COUNT(*) FROM tasks "
                                "WHERE kind = 'webhook.deliver' GROUP BY state")}
            if set(tasks) == {"completed"} or time.time() > deadline:
                break
            time.sleep(0.2)
        assert tasks == {"completed": subs}, (tasks, subs)
        assert subs >= len(acked)
        assert server.stop() == 0
    finally:
        receiver.close()
        if server and server.proc and server.proc.poll() is None:
            server.stop()   # a failed assertion must not leave a server running
