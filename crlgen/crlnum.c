/*
 * crlnum — reading the CRL Number witnesses. The crlnumber parser is written
 * out by hand because it must refuse exactly what openssl ca would not have
 * written (strtoull would take blanks, a sign and "0x"); a crlnumber file
 * that exists but says something else is doubtful input, and the caller
 * refuses to guess. Of the published CRL only two pieces are read: the
 * issuer Name and the crlExtensions. The file is walked TLV header by TLV
 * header with pread(), and the revokedCertificates SEQUENCE between them is
 * skipped by its length, never read, so a million-entry CRL costs a few
 * small reads, not its size in memory and time (decoding it whole with
 * OpenSSL built one object per entry: 400 MB for 1M entries, at every start).
 * The two pieces are then decoded with OpenSSL (X509_NAME_cmp, the extension
 * decoder), whose reading of the CRL Number is what every relying party will
 * apply to the same bytes.
 */
#include "crlnum.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "der.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

int crlnum_parse(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    bool over = false;

    /* One line end may close the line; nothing may follow it. */
    if (len > 0 && s[len - 1] == '\n') {
        len--;
        if (len > 0 && s[len - 1] == '\r')
            len--;
    }
    if (len == 0)
        return -EBADMSG;
    for (i = 0; i < len; i++) {
        int d = der_hexval((uint8_t)s[i]);
        if (d < 0)
            return -EBADMSG;
        /* Keep scanning after an overflow: a malformed file is reported as
         * malformed whatever its size. */
        if (v > (CRLNUM_MAX >> 4))
            over = true;
        else
            v = (v << 4) | (uint64_t)d;
    }
    if (over || v > CRLNUM_MAX)
        return -ERANGE;
    *out = v;
    return 0;
}

int crlnum_read_file(const char *path, uint64_t *next)
{
    char buf[CRLNUM_FILE_MAX + 1];
    size_t len = 0;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* Read one byte more than allowed so an oversized file is seen as such. */
    while (len < sizeof(buf)) {
        ssize_t k = read(fd, buf + len, sizeof(buf) - len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    if (rc < 0)
        return rc;
    if (len > CRLNUM_FILE_MAX)
        return -EBADMSG;
    return crlnum_parse(buf, len, next);
}

/* Pieces of a published CRL larger than this are not ours to trust. */
#define CRLNUM_PIECE_MAX (64 * 1024)

/* One DER TLV header at off, which must end by end: tag, content length and
 * where the content starts. Single-byte tags, definite lengths only. */
static int crlnum_tlv(int fd, uint64_t off, uint64_t end, uint8_t *tag, uint64_t *len,
                      uint64_t *content)
{
    uint8_t h[10];
    if (off >= end)
        return -EBADMSG;
    size_t want = end - off < sizeof(h) ? (size_t)(end - off) : sizeof(h);
    ssize_t n = pread(fd, h, want, (off_t)off);
    if (n < 0)
        return -errno;
    if (n < 2 || (h[0] & 0x1f) == 0x1f)
        return -EBADMSG;
    *tag = h[0];
    uint64_t l = h[1];
    size_t hl = 2;
    if (l & 0x80) {
        size_t k = l & 0x7f;
        if (k == 0 || k > 8 || (size_t)n < 2 + k)
            return -EBADMSG;
        l = 0;
        for (size_t i = 0; i < k; i++)
            l = (l << 8) | h[2 + i];
        hl += k;
    }
    if (l > end - off - hl)
        return -EBADMSG;
    *len = l;
    *content = off + hl;
    return 0;
}

/* Reads the whole TLV at off (header included) into a malloc'd buffer. */
static int crlnum_piece(int fd, uint64_t off, uint64_t content, uint64_t len, uint8_t **out,
                        size_t *out_len)
{
    uint64_t total = content - off + len;
    if (total > CRLNUM_PIECE_MAX)
        return -EBADMSG;
    uint8_t *b = malloc((size_t)total);
    if (b == NULL)
        return -ENOMEM;
    ssize_t n = pread(fd, b, (size_t)total, (off_t)off);
    if (n != (ssize_t)total) {
        int rc = n < 0 ? -errno : -EBADMSG;
        free(b);
        return rc;
    }
    *out = b;
    *out_len = (size_t)total;
    return 0;
}

/* Finds the issuer Name and crlExtensions [0] of the CRL in fd (read into
 * *name / *exts, malloc'd; *exts NULL when the CRL has none). */
static int crlnum_pieces(int fd, uint8_t **name, size_t *name_len, uint8_t **exts, size_t *exts_len)
{
    struct stat sb;
    uint8_t tag;
    uint64_t len, c, tbs_end, off;
    int rc;

    if (fstat(fd, &sb) < 0)
        return -errno;
    rc = crlnum_tlv(fd, 0, (uint64_t)sb.st_size, &tag, &len, &c); /* CertificateList */
    if (rc < 0 || tag != 0x30)
        return rc < 0 ? rc : -EBADMSG;
    rc = crlnum_tlv(fd, c, c + len, &tag, &len, &off); /* TBSCertList */
    if (rc < 0 || tag != 0x30)
        return rc < 0 ? rc : -EBADMSG;
    tbs_end = off + len;
    /* version (optional), signature, issuer */
    rc = crlnum_tlv(fd, off, tbs_end, &tag, &len, &c);
    if (rc == 0 && tag == 0x02) {
        off = c + len;
        rc = crlnum_tlv(fd, off, tbs_end, &tag, &len, &c);
    }
    if (rc < 0 || tag != 0x30)
        return rc < 0 ? rc : -EBADMSG;
    off = c + len;
    rc = crlnum_tlv(fd, off, tbs_end, &tag, &len, &c);
    if (rc < 0 || tag != 0x30)
        return rc < 0 ? rc : -EBADMSG;
    rc = crlnum_piece(fd, off, c, len, name, name_len);
    if (rc < 0)
        return rc;
    /* thisUpdate, then nextUpdate, revokedCertificates, crlExtensions, each
     * optional: skip by length until [0] or the end of the TBS. */
    off = c + len;
    *exts = NULL;
    for (unsigned i = 0; off < tbs_end; i++) {
        rc = crlnum_tlv(fd, off, tbs_end, &tag, &len, &c);
        if (rc < 0)
            break;
        if (i == 0 && tag != 0x17 && tag != 0x18) {
            rc = -EBADMSG;
            break;
        }
        if (tag == 0xa0) {
            rc = crlnum_piece(fd, off, c, len, exts, exts_len);
            break;
        }
        off = c + len;
    }
    if (rc < 0) {
        free(*name);
        *name = NULL;
    }
    return rc;
}

int crlnum_read_crl(const char *path, const uint8_t *issuer, size_t issuer_len, uint64_t *number)
{
    const unsigned char *p = issuer;
    X509_NAME *want = NULL, *got = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    ASN1_INTEGER *num = NULL;
    uint8_t *name = NULL, *ext = NULL;
    size_t name_len = 0, ext_len = 0;
    uint64_t v;
    int crit = -1;
    int rc;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    want = d2i_X509_NAME(NULL, &p, (long)issuer_len);
    if (want == NULL) {
        rc = -EINVAL;
        goto out;
    }
    rc = crlnum_pieces(fd, &name, &name_len, &ext, &ext_len);
    if (rc < 0)
        goto out;
    p = name;
    got = d2i_X509_NAME(NULL, &p, (long)name_len);
    if (got == NULL || p != name + name_len) {
        rc = -EBADMSG;
        goto out;
    }
    if (X509_NAME_cmp(got, want) != 0) {
        rc = -EXDEV;
        goto out;
    }
    if (ext == NULL) {
        rc = -ENODATA;
        goto out;
    }
    {
        /* [0] EXPLICIT Extensions: decode the SEQUENCE inside. */
        struct cur cu, val;
        cur_init(&cu, ext, ext_len);
        if (der_get(&cu, DER_CTX_CONS(0), &val) < 0 || cur_left(&cu) != 0) {
            rc = -EBADMSG;
            goto out;
        }
        p = val.p;
        exts = d2i_X509_EXTENSIONS(NULL, &p, (long)cur_left(&val));
        if (exts == NULL || p != val.end) {
            rc = -EBADMSG;
            goto out;
        }
    }
    num = X509V3_get_d2i(exts, NID_crl_number, &crit, NULL);
    if (num == NULL) {
        /* crit -1: absent; otherwise present but undecodable or repeated. */
        rc = crit == -1 ? -ENODATA : -EBADMSG;
        goto out;
    }
    if (ASN1_INTEGER_get_uint64(&v, num) != 1) {
        /* Negative, or wider than 64 bits: tell them apart, the second is a
         * number crlgen cannot go above. */
        rc = ASN1_STRING_type(num) == V_ASN1_INTEGER ? -ERANGE : -EBADMSG;
        goto out;
    }
    if (v > CRLNUM_MAX) {
        rc = -ERANGE;
        goto out;
    }
    *number = v;
    rc = 0;

out:
    ASN1_INTEGER_free(num);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(got);
    X509_NAME_free(want);
    free(name);
    free(ext);
    close(fd);
    ERR_clear_error();
    return rc;
}
