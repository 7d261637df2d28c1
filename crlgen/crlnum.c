/*
 * crlnum — reading the CRL Number witnesses. The crlnumber parser is written
 * out by hand because it must refuse exactly what openssl ca would not have
 * written (strtoull would take blanks, a sign and "0x"); a crlnumber file
 * that exists but says something else is doubtful input, and the caller
 * refuses to guess. The published CRL is decoded with OpenSSL (streamed from
 * the file through a BIO, so a large CRL is never held twice) because it is
 * only read, never rewritten, and OpenSSL's CRL Number decoding is what every
 * relying party will apply to the same bytes.
 */
#include "crlnum.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int crlnum_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

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
        int d = crlnum_hex(s[i]);
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

int crlnum_read_crl(const char *path, const uint8_t *issuer, size_t issuer_len, uint64_t *number)
{
    const unsigned char *p = issuer;
    X509_NAME *want = NULL;
    X509_CRL *crl = NULL;
    ASN1_INTEGER *num = NULL;
    BIO *bio = NULL;
    uint64_t v;
    int crit = -1;
    int rc;

    /* open() first, for an errno that says why: BIO_new_file only says no. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    bio = BIO_new_fd(fd, BIO_CLOSE);
    if (bio == NULL) {
        close(fd);
        return -ENOMEM;
    }
    want = d2i_X509_NAME(NULL, &p, (long)issuer_len);
    if (want == NULL) {
        rc = -EINVAL;
        goto out;
    }
    crl = d2i_X509_CRL_bio(bio, NULL);
    if (crl == NULL) {
        rc = -EBADMSG;
        goto out;
    }
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), want) != 0) {
        rc = -EXDEV;
        goto out;
    }
    num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
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
    X509_CRL_free(crl);
    X509_NAME_free(want);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}
