#!/bin/sh
# Installs everything revokd needs to build, test, fuzz, benchmark and run its demo on
# Debian 12, as root. The Dockerfile reuses it. Idempotent.
# libseccomp-dev: the responder's sandbox (responder/sandbox.c); strace: tests/e2e/test_key_perms.sh
# checks the responder opens no key file.
# faketime: wall-clock steps under the responder in tests/e2e/test_clock_step.sh.
# default-jdk-headless: Java's PKIX revocation checking in tests/e2e/test_relying_parties.sh
# (PkixCheck.java, run with the single-file source launcher, needs the compiler module).
# haproxy, varnish: the load balancer and cache of scripts/topology.sh (tests/e2e/test_topology.sh).
# systemd (systemd-analyze), dpkg-dev: tests/e2e/test_package.sh builds, installs and verifies the .deb.
# prometheus (promtool), python3-yaml: tests/e2e/test_deploy_files.sh checks alert rules and YAML.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config clang clang-format libclang-rt-14-dev \
    libssl-dev openssl liburing-dev libseccomp-dev liblmdb-dev lmdb-utils libev-dev libcriterion-dev \
    curl ca-certificates python3 python3-cryptography gnutls-bin \
    nginx-light procps iproute2 wrk gnuplot-nox faketime default-jdk-headless \
    e2fsprogs util-linux strace haproxy varnish systemd dpkg-dev prometheus python3-yaml >/dev/null
echo "revokd: build and test dependencies installed"
