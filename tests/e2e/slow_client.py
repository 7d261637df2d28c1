#!/usr/bin/python3
"""slow_client.py — HTTP/1.1 OCSP POST clients that hold requests in flight, for
revokd's signal tests (SIGTERM drains, SIGHUP keeps connections).

  slow_client.py inflight --port P --req R.der --n N --ready FILE --go FILE --save R.der
      opens N connections, sends each a request head and all of its body but the
      last byte, creates FILE ready, waits (at most 20 s) for FILE go, sends the
      last bytes and reads every answer. Prints "OK: N/N answered 200" and exits 0
      only if every connection got a complete 200 application/ocsp-response.
  slow_client.py pipeline --port P --n N [--read-delay S]
      one connection: N GET requests, /healthz and /metrics alternating, written in
      one go by a second thread while this one reads (after S seconds); exits 0 if the N answers came
      complete and in order (far more than a connection's read buffer, so the
      server must pause reading and resume without losing or reordering bytes).
  slow_client.py keepalive --port P --req R.der --ready FILE --go FILE --save1 A --save2 B
      one connection: a request, creates ready, waits for go, a second request on
      the same connection. Exits 0 if both were answered 200 on that connection.
"""

import argparse
import os
import socket
import sys
import threading
import time


def head(port, n):
    return (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n"
    ).encode()


_left = {}  # socket -> bytes read past the last response (pipelining)


def read_response(s):
    """Reads one response; returns (status, headers dict, body) or raises."""
    buf = _left.pop(s, b"")
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("connection closed before a response head")
        buf += chunk
    h, _, rest = buf.partition(b"\r\n\r\n")
    lines = h.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed after {len(rest)} of {n} body bytes")
        rest += chunk
    _left[s] = rest[n:]
    return status, hdrs, rest[:n]


def wait_for(path, secs=20.0):
    end = time.time() + secs
    while not os.path.exists(path):
        if time.time() > end:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def ok_answer(status, hdrs, body):
    return status == 200 and hdrs.get("content-type") == "application/ocsp-response" and body


def inflight(a):
    req = open(a.req, "rb").read()
    socks = []
    for _ in range(a.n):
        s = socket.create_connection(("127.0.0.1", a.port), timeout=20)
        s.sendall(head(a.port, len(req)) + req[:-1])
        socks.append(s)
    open(a.ready, "w").close()
    wait_for(a.go)
    good, errs = 0, []
    for s in socks:
        try:
            s.sendall(req[-1:])
            st, h, body = read_response(s)
            if ok_answer(st, h, body):
                good += 1
                if a.save and good == 1:
                    open(a.save, "wb").write(body)
            else:
                errs.append(f"status {st}")
        except Exception as e:  # noqa: BLE001 — every failure is reported
            errs.append(repr(e))
        s.close()
    if good == a.n:
        print(f"OK: {good}/{a.n} answered 200")
        return 0
    print(f"FAIL: {good}/{a.n} answered 200; {'; '.join(errs[:5])}")
    return 1


def keepalive(a):
    req = open(a.req, "rb").read()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    s.sendall(head(a.port, len(req)) + req)
    st, h, body = read_response(s)
    if not ok_answer(st, h, body):
        print(f"FAIL: first request: status {st}")
        return 1
    open(a.save1, "wb").write(body)
    open(a.ready, "w").close()
    wait_for(a.go)
    try:
        s.sendall(head(a.port, len(req)) + req)
        st, h, body = read_response(s)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL: second request on the same connection: {e!r}")
        return 1
    if not ok_answer(st, h, body):
        print(f"FAIL: second request: status {st}")
        return 1
    open(a.save2, "wb").write(body)
    print("OK: two answers on one connection")
    return 0


def pipeline(a):
    reqs = [
        f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n\r\n".encode(),
        f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n\r\n".encode(),
    ]
    s = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    t = threading.Thread(target=lambda: s.sendall(b"".join(reqs[i % 2] for i in range(a.n))))
    t.start()
    time.sleep(a.read_delay)  # let the server's output back up: it must stop reading
    wrong = 0
    try:
        for i in range(a.n):
            st, h, body = read_response(s)
            kind = 0 if body.startswith(b"ok") else 1 if b"revokd_" in body else 9
            wrong += st != 200 or kind != i % 2
    except Exception as e:  # noqa: BLE001
        print(f"FAIL: after {i} answers: {e!r}")
        return 1
    finally:
        t.join()
    if wrong:
        print(f"FAIL: {wrong} of {a.n} answers wrong or out of order")
        return 1
    print(f"OK: {a.n} pipelined answers in order")
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["inflight", "keepalive", "pipeline"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--req")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--read-delay", type=float, default=0.0)
    p.add_argument("--ready")
    p.add_argument("--go")
    p.add_argument("--save")
    p.add_argument("--save1")
    p.add_argument("--save2")
    a = p.parse_args()
    return {"inflight": inflight, "keepalive": keepalive, "pipeline": pipeline}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
