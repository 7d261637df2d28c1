/*
 * ocsp — umbrella header for RFC 6960: the request side (ocsp_req.h: parser,
 * error responses, CertID issuer hashes) and the response builder
 * (ocsp_resp.h, which signs). They are separate units so that a program that
 * only parses requests, the responder, links no signing code: including this
 * header costs nothing, only calling ocsp_resp_build() pulls the builder and
 * common/sign in. New responder code should include ocsp_req.h.
 */
#ifndef REVOKD_OCSP_H
#define REVOKD_OCSP_H

#include "ocsp_req.h"
#include "ocsp_resp.h"

#endif
