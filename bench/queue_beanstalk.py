#!/usr/bin/env python3
"""queue_beanstalk.py - drives a beanstalkd for bench/queue.sh.

    queue_beanstalk.py PORT saturated N PRODUCERS CONSUMERS
    queue_beanstalk.py PORT unsaturated RATE SECONDS CONSUMERS

Speaks the text protocol over plain sockets (stdlib only), one connection
per process so the GIL does not serialise the clients:
  producer:  put <pri> <delay> <ttr> <bytes>\\r\\n<body>\\r\\n  ->  INSERTED <id>
  consumer:  reserve-with-timeout 1  ->  RESERVED <id> <bytes>\\r\\n<body>\\r\\n
             delete <id>             ->  DELETED
A job counts as acknowledged at INSERTED and as done at DELETED; with the
binlog on, beanstalkd writes each put and each delete to it before
answering (and fsyncs then too with -f0).

The body is {"i": index, "t": enqueue time in Unix seconds}, taken just
before the put; a consumer subtracts it from the time its reserve returned.
saturated: PRODUCERS processes each put their share of N back to back, each
waiting for INSERTED (one in flight per connection). unsaturated: one
producer puts RATE jobs a second for SECONDS, on schedule. Prints one line:
  tasks N secs S tasks_per_s R p50_ms A p99_ms B
Exits 1 on a protocol error or a lost job.
"""
import json
import math
import multiprocessing as mp
import socket
import sys
import time


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("beanstalkd closed the connection")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("beanstalkd closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def put(self, body):
        self.sock.sendall(b"put 0 0 60 %d\r\n%s\r\n" % (len(body), body))
        ln = self.line()
        if not ln.startswith(b"INSERTED"):
            raise RuntimeError("put: %r" % ln)


def body(i):
    return json.dumps({"i": i, "t": time.time()}).encode()


def producer(port, first, count, start):
    c = Conn(port)
    start.wait()
    for i in range(first, first + count):
        c.put(body(i))


def paced_producer(port, rate, seconds, start):
    c = Conn(port)
    start.wait()
    t0 = time.time()
    for i in range(rate * seconds):
        d = t0 + i / rate - time.time()
        if d > 0:
            time.sleep(d)
        c.put(body(i))


def consumer(port, total, done, start, out):
    c = Conn(port)
    lat, last = [], 0.0
    start.wait()
    while done.value < total:
        c.sock.sendall(b"reserve-with-timeout 1\r\n")
        ln = c.line()
        if ln in (b"TIMED_OUT", b"DEADLINE_SOON"):
            continue
        parts = ln.split()
        if parts[0] != b"RESERVED":
            raise RuntimeError("reserve: %r" % ln)
        now = time.time()
        job = json.loads(c.exact(int(parts[2])))
        lat.append(now - job["t"])
        c.sock.sendall(b"delete %s\r\n" % parts[1])
        ln = c.line()
        if ln != b"DELETED":
            raise RuntimeError("delete: %r" % ln)
        last = time.time()
        with done.get_lock():
            done.value += 1
    out.put((lat, last))


def pct(sorted_lat, p):
    k = max(0, min(len(sorted_lat) - 1, math.ceil(p / 100 * len(sorted_lat)) - 1))
    return sorted_lat[k] * 1000


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    a, b, nconsumers = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    total = a if mode == "saturated" else a * b
    ctx = mp.get_context("fork")
    start, done, out = ctx.Event(), ctx.Value("l", 0), ctx.Queue()
    procs = [ctx.Process(target=consumer, args=(port, total, done, start, out))
             for _ in range(nconsumers)]
    if mode == "saturated":
        procs += [ctx.Process(target=producer,
                              args=(port, total * k // b, total * (k + 1) // b - total * k // b,
                                    start))
                  for k in range(b)]
    else:
        procs.append(ctx.Process(target=paced_producer, args=(port, a, b, start)))
    for p in procs:
        p.start()
    time.sleep(0.5)            # every connection open before the clock starts
    t0 = time.time()
    start.set()
    results = [out.get() for _ in range(nconsumers)]
    for p in procs:
        p.join()
        if p.exitcode:
            sys.exit("a client process failed")
    lat = sorted(x for r in results for x in r[0])
    if len(lat) != total:
        sys.exit("%d jobs done of %d" % (len(lat), total))
    secs = max(r[1] for r in results) - t0
    print("tasks %d secs %.3f tasks_per_s %.0f p50_ms %.2f p99_ms %.2f"
          % (total, secs, total / secs, pct(lat, 50), pct(lat, 99)))


if __name__ == "__main__":
    main()
