/*
 * crlnum — the CRL Number sources outside the store. RFC 5280 5.2.3 makes the
 * CRL Number of an issuer's CRLs monotonically increasing, and relying parties
 * that cache a CRL ignore one with a lower number, so a rebuilt store must not
 * restart at 1. Two witnesses of earlier numbers survive a lost store: the CA's
 * `openssl ca` crlnumber file (hex, the number openssl would use next) and the
 * CRL already published in out_dir. This module reads both; the run loop
 * (run.c) takes the maximum with the store's number and decides what an error
 * means. Nothing here logs.
 */
#ifndef REVOKD_CRLNUM_H
#define REVOKD_CRLNUM_H

#include <stddef.h>
#include <stdint.h>

/* Highest CRL Number crlgen issues: fits uint64 with room, and far below the
 * 20-octet limit of RFC 5280 5.2.3. Anything above is refused, never wrapped. */
#define CRLNUM_MAX (UINT64_C(1) << 63)
/* Longest crlnumber file accepted: hex digits of a 20-octet number plus slack
 * for leading zeros and a line end; more is not a file openssl ca wrote. */
#define CRLNUM_FILE_MAX 128

/*
 * Parses the contents of a crlnumber file: hex digits (either case, leading
 * zeros allowed, at least one digit) followed by at most one line end ("\n"
 * or "\r\n"). Anything else (blanks, a sign, "0x", a second line, a
 * backslash continuation) is not what openssl ca writes and is refused rather
 * than guessed at. Returns 0 and *out, -EBADMSG if malformed, -ERANGE if the
 * value exceeds CRLNUM_MAX.
 */
int crlnum_parse(const char *s, size_t len, uint64_t *out);

/*
 * Reads a crlnumber file. Returns 0 and *next (the number openssl ca would use
 * next), -ENOENT if there is no such file, -EBADMSG/-ERANGE as crlnum_parse()
 * (-EBADMSG also for a file over CRLNUM_FILE_MAX bytes), or another negative
 * errno if it cannot be read.
 */
int crlnum_read_file(const char *path, uint64_t *next);

/*
 * Reads the CRL Number of the DER CRL in path, provided its issuer equals the
 * Name DER issuer/issuer_len (compared as X.509 names, as relying parties do).
 * Returns 0 and *number; -ENOENT no such file; -EBADMSG not a DER CRL, or a
 * negative or undecodable CRL Number; -ENODATA no CRL Number extension;
 * -EXDEV a CRL of another issuer; -ERANGE a CRL Number above CRLNUM_MAX; or
 * another negative errno if the file cannot be read.
 */
int crlnum_read_crl(const char *path, const uint8_t *issuer, size_t issuer_len, uint64_t *number);

#endif
