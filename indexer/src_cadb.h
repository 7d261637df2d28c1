/*
 * src_cadb — the OpenSSL CA database (index.txt) as a source: reads the file and
 * turns every entry cadb.h parses into a struct src_entry of a snapshot
 * (source.h). The file is read in rounds of 8 MB of complete lines, so a
 * 1M-line index costs the snapshot (72 bytes a certificate) and one buffer, not
 * the file's 100 MB on top.
 */
#ifndef REVOKD_SRC_CADB_H
#define REVOKD_SRC_CADB_H

#include "source.h"

/*
 * Reads path into *out (initialised by the caller with STORE_SRC_INDEX). Malformed
 * lines are logged with their numbers (as [issuer NAME]) and counted in
 * out->malformed. Returns 0 or a negative errno (the file cannot be read).
 */
int src_cadb_read(const char *issuer, const char *path, struct src_snapshot *out);

/* The same with a read buffer of cap bytes (tests: lines split across rounds). A
 * line longer than cap is read as malformed pieces. */
int src_cadb_read_rounds(const char *issuer, const char *path, struct src_snapshot *out,
                         size_t cap);

#endif
