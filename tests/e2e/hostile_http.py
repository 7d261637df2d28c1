#!/usr/bin/env python3
"""hostile_http.py — raw-socket clients for tests/e2e/test_http_hostile.sh and
tests/e2e/test_clock_step.sh: what curl and openssl will not send.

    hostile_http.py wire PORT OCSP_REQ_DER            HTTP details (issue 13 item 13)
    hostile_http.py flood PORT PID CRL_PATH CRL_FILE N_CLIENTS N_REQS SEND_TIMEOUT_S
                                                      non-reading clients (item 12)
    hostile_http.py idle PORT IDLE_S FAKETIME_FILE    wall-clock steps (item 11)
    hostile_http.py attack PORT PID OCSP_REQ_DER IDLE_S MAX_CONNS N_IDLE
                                                      issue 12 item 3: mutations, smuggling,
                                                      slowloris, idle masses, floods

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



# --- issue 12 item 3 ------------------------------------------------------------------
def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def outcome(s, timeout=5.0):
    """Everything the server sends until it closes or goes quiet: (bytes, closed)."""
    s.settimeout(timeout)
    buf = b""
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            return buf, False
        except ConnectionResetError:
            return buf, True
        if not d:
            return buf, True
        buf += d


def clear_or_closed(raw, port):
    """Sends raw, half-closes; the answer must be one full response with a status, or a close."""
    s = connect(port)
    try:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        got, closed = outcome(s, 5.0)
    finally:
        s.close()
    if not closed:
        return "no close within 5 s after the client's FIN (got %r)" % got[:80]
    if got and (not got.startswith(b"HTTP/1.1 ") or status_of(got) is None):
        return "not an HTTP response: %r" % got[:80]
    return None


def ocsp_status(body):
    """responseStatus of an OCSPResponse (30 len 0a 01 XX ...), or None."""
    try:
        _, top, rest = der_split(body)
        if rest or top[0] != 0x0A or top[1] != 1:
            return None
        return top[2]
    except IndexError:
        return None


def post_raw(der, extra=b""):
    return (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/ocsp-request\r\n"
            b"Content-Length: %d\r\n%s\r\n" % (len(der), extra)) + der


def mutations(port, der):
    raw = post_raw(der, b"Connection: close\r\n")
    bad = [r for r in (clear_or_closed(raw[:k], port) for k in range(len(raw))) if r]
    out(not bad, "each of %d truncations of a valid POST: a status or a clean close" % len(raw),
        "; ".join(bad[:3]))
    # every bit of the DER body flipped, framing intact: 200 and an OCSPResponse
    # whose status is successful, malformedRequest or unauthorized
    statuses, bad = {}, []
    for i in range(len(der) * 8):
        m = bytearray(der)
        m[i // 8] ^= 1 << (i % 8)
        resp = exchange(port, post_raw(bytes(m), b"Connection: close\r\n"))
        body = resp.partition(b"\r\n\r\n")[2]
        st = ocsp_status(body) if status_of(resp) == 200 else None
        if st is None and status_of(resp) == 200 and body[:1] == b"\x30":
            st = 0  # a full response; its own status byte sits deeper (30 82 .. 0a 01 00)
        if st not in (0, 1, 6):
            bad.append("bit %d: %r" % (i, resp[:60]))
        statuses[st] = statuses.get(st, 0) + 1
    out(not bad, "each of %d bit-flips of the DER body: 200 with an OCSP status (%s)"
        % (len(der) * 8, ", ".join("%s: %d" % kv for kv in sorted(statuses.items(), key=str))),
        "; ".join(bad[:3]))
    head = raw[:len(raw) - len(der)]
    bad = []
    for i in range(len(head) * 8):
        m = bytearray(head)
        m[i // 8] ^= 1 << (i % 8)
        r = clear_or_closed(bytes(m) + der, port)
        if r:
            bad.append("bit %d: %s" % (i, r))
    out(not bad, "each of %d bit-flips of the HTTP head: a status or a clean close"
        % (len(head) * 8), "; ".join(bad[:3]))


def lengths(port, der):
    cases = [
        ("Content-Length over 64 bits", b"Content-Length: 99999999999999999999999\r\n", (400, 413)),
        ("Content-Length of 1 GB", b"Content-Length: 1000000000\r\n", (413,)),
    ]
    for name, hdr, want in cases:
        raw = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/ocsp-request\r\n" + hdr + b"\r\n"
        resp = exchange(port, raw)
        out(status_of(resp) in want, "%s -> %s" % (name, want), resp[:80])
    # DER lengths: a 4 GB SEQUENCE, an indefinite one, 1000 nested indefinite and
    # 500 nested definite SEQUENCEs: all malformedRequest
    nested = b""
    for _ in range(500):
        nested = tlv(0x30, nested)
    for name, body in [("a 4 GB DER length", b"\x30\x84\xff\xff\xff\xff" + der[2:]),
                       ("an indefinite DER length", b"\x30\x80" + der[2:] + b"\x00\x00"),
                       ("1000 nested indefinite SEQUENCEs", b"\x30\x80" * 1000),
                       ("500 nested SEQUENCEs", nested[:4000])]:
        resp = exchange(port, post_raw(body, b"Connection: close\r\n"))
        st = ocsp_status(resp.partition(b"\r\n\r\n")[2])
        ok = status_of(resp) in (200, 413) and (status_of(resp) == 413 or st == 1)
        out(ok, "%s -> malformedRequest (or 413)" % name, resp[:80])


def count_responses(buf):
    return buf.count(b"HTTP/1.1 ")


def smuggling(port, der):
    follow = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
    cases = [
        ("Content-Length with Transfer-Encoding: chunked", b"Content-Length: %d\r\n"
         b"Transfer-Encoding: chunked\r\n" % len(der), (400, 501)),
        ("Transfer-Encoding: chunked alone", b"Transfer-Encoding: chunked\r\n", (400, 411, 501)),
        ("two different Content-Lengths", b"Content-Length: %d\r\nContent-Length: 3\r\n" % len(der),
         (400,)),
        ("the same Content-Length twice", b"Content-Length: %d\r\nContent-Length: %d\r\n"
         % (len(der), len(der)), (400,)),
        ("a Content-Length list", b"Content-Length: %d, %d\r\n" % (len(der), len(der)), (400,)),
        ("Content-Length: +N", b"Content-Length: +%d\r\n" % len(der), (400,)),
        ("Content-Length: -1", b"Content-Length: -1\r\n", (400,)),
        ("Content-Length with a space inside", b"Content-Length: 1 %d\r\n" % len(der), (400,)),
        ("obsolete line folding", b"Content-Length: %d\r\nX-A: a\r\n b\r\n" % len(der), (400,)),
        ("a NUL in a field value", b"Content-Length: %d\r\nX-A: a\x00b\r\n" % len(der), (400,)),
        ("a NUL in a field name", b"Content-Length: %d\r\nX\x00A: b\r\n" % len(der), (400,)),
        ("a space before the colon", b"Content-Length : %d\r\n" % len(der), (400,)),
        ("a bare CR", b"Content-Length: %d\r\nX-A: a\rb\r\n" % len(der), (400,)),
    ]
    for name, hdr, want in cases:
        raw = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/ocsp-request\r\n" + hdr +
               b"\r\n" + der + follow)
        s = connect(port)
        s.sendall(raw)
        got, closed = outcome(s, 3.0)
        s.close()
        ok = status_of(got) in want and count_responses(got) == 1 and closed
        out(ok, "%s -> %s, the connection closed, nothing after it answered" % (name, want),
            got[:120])
    # bare LF line ends (RFC 9112 2.2 lets a recipient accept them): both requests are
    # framed the same way, so exactly two answers, the first an OCSP response
    raw = (b"POST / HTTP/1.1\nHost: t\nContent-Type: application/ocsp-request\n"
           b"Content-Length: %d\n\n" % len(der)) + der + follow
    s = connect(port)
    s.sendall(raw)
    got, closed = outcome(s, 2.0)
    s.close()
    ok = (status_of(got) in (200, 400) and
          count_responses(got) == (2 if status_of(got) == 200 else 1))
    out(ok, "bare LF line ends: one answer per request as framed (%s)"
        % (status_of(got),), got[:120])
    for name, target in [("absolute-form target", b"http://t/"),
                         ("absolute-form target to another host", b"http://evil.example/")]:
        raw = (b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/ocsp-request\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (target, len(der))) + der
        resp = exchange(port, raw)
        st = status_of(resp)
        ok = st == 400 or (st == 200 and ocsp_status(resp.partition(b"\r\n\r\n")[2]) is not None)
        out(ok or st in (404, 405), "%s -> a clear status (%s)" % (name, st), resp[:80])


def slowloris(port, idle_s, n=40):
    """n clients trickle a head a byte at a time; each is closed about idle_s after it began."""
    socks = [connect(port) for _ in range(n)]
    head = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 4000
    t0 = time.monotonic()
    closed_at = {}
    i = 0
    while len(closed_at) < n and time.monotonic() - t0 < idle_s + 10:
        for k, s in enumerate(socks):
            if k in closed_at:
                continue
            try:
                s.send(head[i % len(head):i % len(head) + 1])
            except OSError:
                closed_at[k] = time.monotonic() - t0
        i += 1
        # a normal client is served throughout
        if i % 5 == 0:
            r = exchange(port, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            if status_of(r) != 200:
                out(False, "a normal client during the slowloris", r[:80])
                break
        time.sleep(0.25)
    for s in socks:
        s.close()
    late = [t for t in closed_at.values() if t > idle_s + 5]
    out(len(closed_at) == n and not late,
        "slowloris: %d trickling clients all closed by idle_timeout %.0f s (+5 s), a normal "
        "client served meanwhile (last close %.1f s)" % (n, idle_s, max(closed_at.values() or [0])),
        "closed %d, late %s" % (len(closed_at), late))


def serial_req(template, serial):
    """template's first CertID with its serial replaced."""
    _, top, _ = der_split(template)
    _, tbs, _ = der_split(top)
    _, lst, _ = der_split(tbs)
    _, one, _ = der_split(lst)
    _, cid, _ = der_split(one)
    _, alg, r1 = der_split(cid)
    _, nh, r2 = der_split(r1)
    _, kh, _ = der_split(r2)
    sb = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    c = tlv(0x30, tlv(0x30, alg) + tlv(0x04, nh) + tlv(0x04, kh) + tlv(0x02, sb))
    return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, c))))


def serial_flood(port, template, n):
    import random
    rnd = random.Random(12)
    # control: the template's own serial, rebuilt the same way, is answered successfully
    _, top, _ = der_split(template)
    cid = der_split(der_split(der_split(der_split(top)[1])[1])[1])[1]
    r = der_split(der_split(der_split(der_split(cid)[2])[2])[2])
    own = int.from_bytes(r[1], "big", signed=True)
    resp = post_ocsp(port, serial_req(template, own))
    out(ocsp_status(resp) == 0 and len(resp) > 100,
        "random-serial flood control: the template's serial rebuilt gets a signed response",
        resp[:40])
    s = connect(port)
    statuses, bad = {}, 0
    for i in range(n):
        der = serial_req(template, rnd.getrandbits(rnd.choice((8, 64, 159))) | 1)
        s.sendall(post_raw(der))
        resp, closed = read_response(s, 5.0)
        st = ocsp_status(resp.partition(b"\r\n\r\n")[2])
        if status_of(resp) != 200 or closed:
            bad += 1
            s.close()
            s = connect(port)
        statuses[st] = statuses.get(st, 0) + 1
    s.close()
    out(bad == 0, "random-serial flood: %d keep-alive POSTs, all 200 (OCSP status bytes %s)"
        % (n, statuses), "%d failed" % bad)


def idle_mass(port, pid, n_idle, max_conns, idle_s):
    """n_idle idle connections (all accepted: fds rise), then beyond the cap: the
    extra clients wait in the accept queue and are served once slots free."""
    fd0 = fd_count(pid)
    socks = []
    t0 = time.monotonic()
    for _ in range(n_idle):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    took = time.monotonic() - t0
    # the peak, sampled until it is reached (or the first ones would idle out)
    peak, peak_rss = 0, 0
    deadline = time.monotonic() + 10
    while peak < fd0 + n_idle and time.monotonic() < deadline:
        n = fd_count(pid)
        if n > peak:
            peak, peak_rss = n, rss_kb(pid)
        time.sleep(0.05)
    out(peak - fd0 >= n_idle and took < idle_s,
        "%d idle connections all accepted (opened in %.1f s, responder fds +%d, RSS %d kB)"
        % (n_idle, took, peak - fd0, peak_rss))
    # fill up to the cap, then 50 more that each send a request
    while len(socks) < max_conns:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    time.sleep(1)
    extra = []
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(("127.0.0.1", port))  # the kernel completes the handshake; accept waits
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        extra.append(s)
    # The cap is split over the workers and a worker accepts a few past its share
    # before its cancel lands (it closes those at once), so what a client beyond
    # the cap sees is either a wait then 200, or a clean close: never a hang.
    for s in socks[:1000]:
        s.close()
    served = closed = 0
    bad = []
    for s in extra:
        s.settimeout(15)
        r, fin = outcome(s, 15.0)
        if status_of(r) == 200:
            served += 1
        elif fin and not r:
            closed += 1
        else:
            bad.append(r[:60])
        s.close()
    out(not bad, "beyond the cap (%d): of 50 more clients %d got 200, %d a clean close"
        % (max_conns, served, closed), bad[:3])
    for s in socks[1000:]:
        s.close()


def attack(port, pid, req_path, idle_s, max_conns, n_idle):
    der = open(req_path, "rb").read()
    time.sleep(0.5)
    rss0, fd0 = rss_kb(pid), fd_count(pid)
    print("info   baseline: RSS %d kB, %d fds" % (rss0, fd0), flush=True)
    mutations(port, der)
    lengths(port, der)
    smuggling(port, der)
    serial_flood(port, der, 5000)
    rss1, fd1 = rss_kb(pid), fd_count(pid)
    print("info   after mutations, smuggling, serial flood: RSS %d kB, %d fds" % (rss1, fd1),
          flush=True)
    slowloris(port, idle_s)
    idle_mass(port, pid, n_idle, max_conns, idle_s)
    deadline = time.monotonic() + 15
    while fd_count(pid) > fd0 + 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    # a second round: growth across it must be flat, unlike the first round's
    # warm-up (allocator arenas, the store's pages, the idle connections' buffers)
    rss_mid = rss_kb(pid)
    print("info   after the idle connections closed: RSS %d kB, %d fds" % (rss_mid, fd_count(pid)),
          flush=True)
    slowloris(port, idle_s)
    serial_flood(port, der, 5000)
    mutations(port, der)
    lengths(port, der)
    smuggling(port, der)
    rss2, fd2 = rss_kb(pid), fd_count(pid)
    print("info   after everything: RSS %d kB, %d fds" % (rss2, fd2), flush=True)
    out(fd2 <= fd0 + 2, "responder fds back to the baseline (%d -> %d, bound +2)" % (fd0, fd2))
    out(rss2 - rss_mid <= 4096,
        "responder RSS flat across a second round of every attack but the idle mass "
        "(%d -> %d kB, bound +4 MB)" % (rss_mid, rss2))
    out(rss2 - rss0 <= 64 * 1024,
        "responder RSS after 10,000 idle connections within 64 MB of the baseline (%d -> %d kB)"
        % (rss0, rss2))


def main():
    cmd = sys.argv[1]
    if cmd == "wire":
        wire(int(sys.argv[2]), sys.argv[3])
    elif cmd == "flood":
        flood(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]),
              int(sys.argv[7]), float(sys.argv[8]))
    elif cmd == "idle":
        idle(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    elif cmd == "attack":
        attack(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]),
               int(sys.argv[6]), int(sys.argv[7]))
    else:
        sys.exit("hostile_http.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
