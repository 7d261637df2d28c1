/*
 * libFuzzer target for crlnum_read_crl() (crlgen/crlnum.c): the published CRL
 * it reads back sits in out_dir, where a web server or another tool may have
 * put anything. The bytes go into a memfd so the reader's own pread() walk over
 * TLV headers runs as it does on a file. Besides the sanitizers' checks it
 * aborts when the result breaks the contract: only the documented errnos, and
 * an accepted number is at most CRLNUM_MAX and equals what OpenSSL decodes
 * from the same bytes when OpenSSL can decode them as one CRL.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crlnum.h"

/* The issuer to expect: the CRL's own when OpenSSL can read the CRL (so the
 * reader goes on to the CRL Number), else Name { CN=fuzz }. */
static const uint8_t fixed_name[] = {0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55,
                                     0x04, 0x03, 0x0c, 0x04, 0x66, 0x75, 0x7a, 0x7a};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    uint64_t v = 0;
    const unsigned char *p = data;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)size);
    unsigned char *name = NULL;
    int name_len = crl ? i2d_X509_NAME(X509_CRL_get_issuer(crl), &name) : -1;

    int fd = memfd_create("crl", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int rc = name_len > 0 ? crlnum_read_crl(path, name, (size_t)name_len, &v)
                          : crlnum_read_crl(path, fixed_name, sizeof(fixed_name), &v);
    if (rc == 0) {
        if (v > CRLNUM_MAX)
            abort();
        if (crl != NULL) {
            ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
            uint64_t w;
            if (n == NULL || ASN1_INTEGER_get_uint64(&w, n) != 1 || w != v)
                abort();
            ASN1_INTEGER_free(n);
        }
    } else if (rc != -EBADMSG && rc != -ENODATA && rc != -EXDEV && rc != -ERANGE && rc != -ENOMEM) {
        abort();
    }
    close(fd);
    OPENSSL_free(name);
    X509_CRL_free(crl);
    return 0;
}
