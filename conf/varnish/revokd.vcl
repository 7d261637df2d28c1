# Varnish 7.1 in front of HAProxy (or one revokd-responder): the HTTP cache that
# carries most OCSP traffic in public PKIs. Template: scripts/topology.sh fills
# @BACKEND_PORT@; a deployment names its load balancer there.
#
# What is cached: RFC 5019 GET answers (GET /<base64 request>) and CRLs (GET
# /crl/...), each for exactly the Cache-Control max-age revokd sends: at most
# [responder] max_age, and never past the response's nextUpdate. POST (RFC 6960
# requests, nonces) always goes through: the builtin VCL passes every method but
# GET and HEAD.
#
# The trade-off (docs/operations-guide.md, "Behind a cache"): a revocation made at
# time t is visible through the cache at the latest at t + max_age. grace = 0
# keeps that bound strict: with Varnish's default 10 s grace an expired answer
# could be served once more while the new one is fetched.
vcl 4.1;

backend revokd_lb {
    .host = "127.0.0.1";
    .port = "@BACKEND_PORT@";
    .connect_timeout = 2s;
    .first_byte_timeout = 10s;
}

sub vcl_recv {
    # Health, metrics and the JSON status API describe the moment: never cached.
    if (req.url ~ "^/(healthz|metrics|api/)") {
        return (pass);
    }
    # OCSP clients send no cookies; a stray one must not make every answer a miss.
    unset req.http.Cookie;
}

sub vcl_backend_response {
    set beresp.grace = 0s;
    # Keep the object past its TTL only to revalidate it with If-None-Match (revokd
    # answers 304 when the signed response did not change); never served stale.
    set beresp.keep = 1h;
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
