#!/usr/bin/env python3
"""hostile_http.py — raw-socket clients for tests/e2e/test_http_hostile.sh and
tests/e2e/test_clock_step.sh: what curl and openssl will not send.

    hostile_http.py wire PORT OCSP_REQ_DER            HTTP details (issue 13 item 13)
    hostile_http.py flood PORT PID CRL_PATH CRL_FILE N_CLIENTS N_REQS SEND_TIMEOUT_S
                                                      non-reading clients (item 12)
    hostile_http.py idle PORT IDLE_S FAKETIME_FILE    wall-clock steps (item 11)

Each check prints one line, "ok MESSAGE" or "bad MESSAGE | DETAIL"; the bash
side turns them into PASS/FAIL. Exit status 0 unless the script itself broke.
"""
import os
import socket
import sys
import time
import urllib.request


def out(ok, msg, detail=""):
    line = ("ok " if ok else "bad ") + msg
    if not ok and detail:
        line += " | " + " ".join(str(detail).split())[:400]
    print(line, flush=True)


def connect(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_response(s, timeout=5.0):
    """Reads one response head (and its body per Content-Length); returns (bytes, closed)."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            d = s.recv(65536)
        except socket.timeout:
            return buf, False
        if not d:
            return buf, True
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for ln in head.split(b"\r\n")[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            break
        body += d
    return head + b"\r\n\r\n" + body, False


def status_of(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def exchange(port, raw, timeout=5.0):
    s = connect(port)
    try:
        s.sendall(raw)
        resp, _ = read_response(s, timeout)
        return resp
    finally:
        s.close()


# --- DER, just enough to add an extension to an OCSPRequest ----------------------
def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_split(b):
    """(tag, content, rest) of the TLV at the start of b."""
    tag, n = b[0], b[1]
    off = 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[2:2 + k], "big")
        off = 2 + k
    return tag, b[off:off + n], b[off + n:]


def oid(dotted):
    parts = [int(x) for x in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.insert(0, 0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(enc)
    return tlv(0x06, body)


def with_request_extension(req, ext_oid, critical):
    """req (DER OCSPRequest without requestExtensions) plus one [2] requestExtensions entry."""
    _, top, _ = der_split(req)
    _, tbs, rest_top = der_split(top)
    ext = oid(ext_oid) + (b"\x01\x01\xff" if critical else b"") + tlv(0x04, b"\x05\x00")
    tbs += tlv(0xA2, tlv(0x30, tlv(0x30, ext)))
    return tlv(0x30, tlv(0x30, tbs) + rest_top)


def post_ocsp(port, der):
    raw = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/ocsp-request\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(der)) + der
    resp = exchange(port, raw)
    return resp.partition(b"\r\n\r\n")[2]


def wire(port, req_path):
    with open(req_path, "rb") as f:
        req = f.read()

    # RFC 9110 10.1.1: 100-continue in HTTP/1.0 is ignored
    s = connect(port)
    s.sendall(b"POST / HTTP/1.0\r\nContent-Type: application/ocsp-request\r\n"
              b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(req))
    s.settimeout(1.0)
    try:
        early = s.recv(4096)
    except socket.timeout:
        early = b""
    s.sendall(req)
    resp, _ = read_response(s)
    s.close()
    out(early == b"" and status_of(resp) == 200 and b"100 Continue" not in resp,
        "HTTP/1.0 with Expect: 100-continue: no interim 100, then 200",
        (early + resp)[:200])
    # ...but HTTP/1.1 still gets it
    s = connect(port)
    s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
              % len(req))
    s.settimeout(3.0)
    try:
        early = s.recv(4096)
    except socket.timeout:
        early = b""
    s.close()
    out(early.startswith(b"HTTP/1.1 100 Continue\r\n"), "HTTP/1.1 with Expect: 100-continue: 100",
        early[:200])

    cases = [
        ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", (400,)),
        ("HTTP/1.1 with two Host fields", b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
         (400,)),
        ("HTTP/1.0 with two Host fields", b"GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
         (400,)),
        ("two identical Content-Length",
         b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
         (400,)),
        ("two different Content-Length",
         b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
         (400,)),
        ("a 100-byte method", b"M" * 100 + b" / HTTP/1.1\r\nHost: a\r\n\r\n", (400, 431)),
        ("a 9000-byte method", b"M" * 9000, (400, 431)),
        ("20 leading empty lines", b"\r\n" * 20 + b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
         (400, 431)),
        ("8 KiB of empty lines", b"\r\n" * 4500, (400, 431)),
        ("HTTP/1.1 with Host (control)", b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", (200,)),
        ("HTTP/1.0 without Host (control)", b"GET /healthz HTTP/1.0\r\n\r\n", (200,)),
    ]
    for name, raw, want in cases:
        resp = exchange(port, raw)
        st = status_of(resp)
        out(st in want, "%s -> %s (got %s)" % (name, "/".join(map(str, want)), st), resp[:200])

    # RFC 6960 4.1.2/4.4: unknown critical request extension -> malformedRequest
    mal = b"\x30\x03\x0a\x01\x01"
    body = post_ocsp(port, with_request_extension(req, "1.2.3.4.5", True))
    out(body == mal, "OCSP request with an unknown critical extension -> malformedRequest",
        body.hex())
    body = post_ocsp(port, with_request_extension(req, "1.2.3.4.5", False))
    out(len(body) > 100 and body[:2] in (b"\x30\x82", b"\x30\x81"),
        "OCSP request with an unknown non-critical extension -> a signed response", body.hex()[:80])
    with open(req_path + ".crit", "wb") as f:
        f.write(with_request_extension(req, "1.2.3.4.5", True))
    with open(req_path + ".noncrit", "wb") as f:
        f.write(with_request_extension(req, "1.2.3.4.5", False))


# --- item 12 -------------------------------------------------------------------------
def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return -1


def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for ln in r.read().decode().splitlines():
            if ln.startswith(name + " "):
                return int(ln.split()[1])
    return None


def flood(port, pid, crl_path, crl_file, n_clients, n_reqs, send_timeout):
    crl = open(crl_file, "rb").read()
    size = len(crl)
    base = rss_kb(pid)
    req = b"GET %s HTTP/1.1\r\nHost: flood\r\n\r\n" % crl_path.encode()
    socks = []
    t0 = time.monotonic()
    for _ in range(n_clients):
        s = connect(port, rcvbuf=4096)  # a client that never reads, with a small window
        s.setblocking(False)
        data = req * n_reqs
        try:
            s.send(data)  # as much as the kernel takes; the rest is never sent
        except BlockingIOError:
            pass
        socks.append(s)
    peak = base
    open_seen = 0
    while time.monotonic() - t0 < send_timeout * 0.8:
        peak = max(peak, rss_kb(pid))
        time.sleep(0.1)
    open_seen = metric(port, "revokd_connections_open")
    grow = (peak - base) * 1024
    bound = 2 * size + 20 * 1024 * 1024
    print("info CRL %d bytes, %d clients x %d pipelined GETs: VmRSS %d kB -> peak %d kB "
          "(+%.1f MB; a copy per client would be +%.1f MB; bound %.1f MB)"
          % (size, n_clients, n_reqs, base, peak, grow / 1e6, n_clients * size / 1e6, bound / 1e6),
          flush=True)
    out(open_seen is not None and open_seen >= n_clients,
        "all %d non-reading clients held open before send_timeout (%s open)"
        % (n_clients, open_seen))
    out(grow < bound, "RSS grew %.1f MB < 2 x CRL + 20 MB = %.1f MB with %d non-reading clients"
        % (grow / 1e6, bound / 1e6, n_clients))

    # closed once send_timeout has passed (the idle timeout is much longer)
    deadline = time.monotonic() + send_timeout + 10
    left = None
    while time.monotonic() < deadline:
        left = metric(port, "revokd_connections_open")
        if left is not None and left <= 1:  # this scrape's own connection
            break
        time.sleep(0.25)
    took = time.monotonic() - t0
    out(left is not None and left <= 1 and took < send_timeout + 8,
        "non-reading clients closed after send_timeout (%.1f s after queueing, send_timeout %g s)"
        % (took, send_timeout), "still open: %s" % left)
    st = metric(port, "revokd_send_timeouts_total")
    out(st is not None and st >= n_clients,
        "revokd_send_timeouts_total counts them (%s >= %d)" % (st, n_clients))
    # the clients see the connection end (RST or FIN after what the window held)
    ended = 0
    for s in socks:
        s.setblocking(True)
        s.settimeout(5)
        try:
            while s.recv(1 << 20):
                pass
            ended += 1
        except (ConnectionResetError, BrokenPipeError):
            ended += 1
        except socket.timeout:
            pass
        s.close()
    out(ended == n_clients, "every flooding client sees its connection end (%d/%d)"
        % (ended, n_clients))
    after = rss_kb(pid)
    print("info VmRSS after the flood: %d kB" % after, flush=True)

    # a normal client still gets the CRL, byte for byte
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, crl_path), timeout=20) as r:
        got = r.read()
    out(got == crl, "after the flood a normal client gets the whole CRL (%d bytes)" % len(got))


# --- item 11 -------------------------------------------------------------------------
def set_offset(path, spec):
    with open(path + ".tmp", "w") as f:
        f.write(spec + "\n")
    os.replace(path + ".tmp", path)


def closed_within(s, secs):
    """Seconds until the peer closed s, or None if it stayed open for secs."""
    t0 = time.monotonic()
    s.settimeout(0.1)
    while time.monotonic() - t0 < secs:
        try:
            d = s.recv(4096)
            if not d:
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - t0
    return None


def idle(port, idle_s, fake_file):
    # control: with no step, an idle connection closes after about idle_s
    set_offset(fake_file, "+0")
    s = connect(port)
    t = closed_within(s, idle_s + 3)
    s.close()
    out(t is not None and idle_s - 0.5 <= t <= idle_s + 2,
        "no clock step: idle connection closed after %.1f s (idle_timeout %g s)"
        % (t or -1, idle_s))

    # wall clock steps back an hour while a connection idles: still closed on time
    s = connect(port)
    time.sleep(0.3)
    set_offset(fake_file, "-3600")
    t = closed_within(s, idle_s + 5)
    s.close()
    out(t is not None and t + 0.3 <= idle_s + 2.5,
        "wall clock stepped back 1 h: idle connection still closed after ~%g s (%s)"
        % (idle_s, "%.1f s" % (t + 0.3) if t is not None else "still open after %g s" % (idle_s + 5)))

    # wall clock steps forward an hour: a fresh connection is not closed at once
    set_offset(fake_file, "-3600")
    time.sleep(0.5)
    s = connect(port)
    time.sleep(0.2)
    set_offset(fake_file, "+0")  # one hour forward
    t = closed_within(s, idle_s * 0.5)
    out(t is None, "wall clock stepped forward 1 h: fresh connection not closed at once (%s)"
        % ("closed after %.1f s" % t if t is not None else "open"))
    # ...and it still works, then idles out normally
    try:
        s.settimeout(5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        resp, _ = read_response(s)
    except OSError as e:
        resp = repr(e).encode()
    out(status_of(resp) in (200, 503), "...and still answers after the step", resp[:120])
    t = closed_within(s, idle_s + 3)
    s.close()
    out(t is not None, "...and closes after idle_timeout once idle again (%s)"
        % ("%.1f s" % t if t is not None else "open"))


def main():
    cmd = sys.argv[1]
    if cmd == "wire":
        wire(int(sys.argv[2]), sys.argv[3])
    elif cmd == "flood":
        flood(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]),
              int(sys.argv[7]), float(sys.argv[8]))
    elif cmd == "idle":
        idle(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("hostile_http.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
