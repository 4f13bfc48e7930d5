"""A webhook receiver for the tests: verifies Standard Webhooks signatures.

It answers as told (a status list consumed in order, then a default), keeps
every request it got, and says whether each signature was valid for the
secret it was given.
"""
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def sign(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class Receiver:
    def __init__(self):
        self.secret = None
        self.lock = threading.Lock()
        self.requests = []          # dicts: msg_id, timestamp, valid, body, status
        self.script = []            # statuses to answer, in order; then default
        self.default = 200
        self.fail_first = 0.0       # fraction of messages whose first attempt gets a 500
        self.seen = set()
        self.extra_headers = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                msg_id = self.headers.get("webhook-id")
                ts = self.headers.get("webhook-timestamp")
                sig = self.headers.get("webhook-signature", "")
                with receiver.lock:
                    valid = bool(receiver.secret and msg_id and ts) and any(
                        hmac.compare_digest(s, sign(receiver.secret, msg_id, ts, body))
                        for s in sig.split())
                    fresh = ts is not None and abs(time.time() - int(ts)) < 300
                    status = receiver.script.pop(0) if receiver.script else receiver.default
                    if receiver.fail_first and msg_id not in receiver.seen:
                        receiver.seen.add(msg_id)
                        # Decided by the message id, so a rerun fails the same ones.
                        h = int(hashlib.sha256((msg_id or "").encode()).hexdigest()[:8], 16)
                        if h / 0xFFFFFFFF < receiver.fail_first:
                            status = 500
                    receiver.requests.append({"msg_id": msg_id, "timestamp": ts,
                                              "valid": valid and fresh, "status": status,
                                              "body": json.loads(body or b"null"),
                                              "content_type": self.headers.get("Content-Type")})
                    extra = dict(receiver.extra_headers)
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def got(self):
        with self.lock:
            return list(self.requests)

    def wait_for(self, predicate, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline:
            got = self.got()
            if predicate(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"receiver never saw what was expected: {self.got()}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
