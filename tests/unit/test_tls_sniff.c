/*
 * Unit tests for tls_sniff: the kind of the first bytes (every kind, every
 * NEED_MORE edge), and ClientHello facts from hellos captured from real
 * clients (openssl s_client, Python 3.13 ssl; see tests/fuzz/corpus/
 * fuzz_tls_sniff/), from every prefix of them, from every way of splitting
 * them over records, and from hand-built hellos with lying lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "tls/tls_sniff.h"

/* ---- captured ClientHellos (127.0.0.1 listener, November 2026) ---- */

/* openssl s_client -tls1_2 -servername mail.example.com */
static const uint8_t hello_openssl_tls12_sni[] = {
        0x16, 0x03, 0x01, 0x00, 0xd0, 0x01, 0x00, 0x00, 0xcc, 0x03, 0x03, 0x58, 0xb1, 0x87, 0x2c, 0x95, 0xa9, 0x31,
        0x27, 0x75, 0x8c, 0x8f, 0x77, 0x66, 0x7d, 0x01, 0x39, 0xaa, 0x15, 0xd6, 0x8d, 0x78, 0xb4, 0x4b, 0x48, 0x7a,
        0xb5, 0x2e, 0xde, 0x46, 0x36, 0xc0, 0x5b, 0x00, 0x00, 0x38, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9,
        0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23,
        0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
        0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6b, 0x00, 0x00,
        0x00, 0x15, 0x00, 0x13, 0x00, 0x00, 0x10, 0x6d, 0x61, 0x69, 0x6c, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c,
        0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00,
        0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00,
        0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08,
        0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05,
        0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
};

/* openssl s_client -tls1_3 -servername mail.example.com */
static const uint8_t hello_openssl_tls13_sni[] = {
        0x16, 0x03, 0x01, 0x00, 0xf5, 0x01, 0x00, 0x00, 0xf1, 0x03, 0x03, 0x7f, 0x5b, 0xa4, 0x69, 0x5f, 0xa3, 0x81,
        0x09, 0x24, 0x1f, 0x60, 0x64, 0x62, 0x8b, 0xa3, 0x5a, 0xee, 0xfb, 0x75, 0xf1, 0x27, 0x7b, 0xe9, 0xc7, 0x1d,
        0x27, 0x82, 0x4f, 0xe8, 0x6b, 0x72, 0x56, 0x20, 0xa5, 0x3a, 0xf7, 0x11, 0x40, 0xe6, 0xfb, 0x97, 0x74, 0x02,
        0x24, 0x2a, 0xc1, 0x98, 0x12, 0xf6, 0x85, 0x46, 0x27, 0x3d, 0x06, 0x4d, 0xa9, 0xed, 0xb8, 0x5d, 0x2f, 0xe6,
        0x0e, 0x7b, 0x67, 0xd8, 0x00, 0x08, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0x00, 0xff, 0x01, 0x00, 0x00, 0xa0,
        0x00, 0x00, 0x00, 0x15, 0x00, 0x13, 0x00, 0x00, 0x10, 0x6d, 0x61, 0x69, 0x6c, 0x2e, 0x65, 0x78, 0x61, 0x6d,
        0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00,
        0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01,
        0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00,
        0x0d, 0x00, 0x1e, 0x00, 0x1c, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08,
        0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x00, 0x2b, 0x00,
        0x03, 0x02, 0x03, 0x04, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d,
        0x00, 0x20, 0xf9, 0x0a, 0x3f, 0x14, 0xcb, 0xe9, 0x1f, 0xb8, 0x22, 0xa4, 0x05, 0xf8, 0xc1, 0xbb, 0xbd, 0xa2,
        0x55, 0xa0, 0x19, 0xaf, 0x59, 0x02, 0xdc, 0xe1, 0x25, 0x5e, 0x99, 0x84, 0xac, 0x13, 0xf1, 0x0d,
};

/* openssl s_client -servername smtp.example.org -alpn smtp,h2 */
static const uint8_t hello_openssl_alpn[] = {
        0x16, 0x03, 0x01, 0x01, 0x4b, 0x01, 0x00, 0x01, 0x47, 0x03, 0x03, 0xbf, 0x13, 0x78, 0x05, 0x22, 0x1c, 0xdb,
        0x98, 0x15, 0xa1, 0x25, 0xb5, 0xe8, 0x3b, 0x00, 0x65, 0xee, 0xaa, 0xb5, 0x81, 0x5f, 0x70, 0x7e, 0xe3, 0xd4,
        0xc7, 0x88, 0x84, 0xd8, 0xb8, 0x99, 0xd3, 0x20, 0xc4, 0x48, 0xdb, 0x37, 0xa1, 0x0a, 0x9d, 0x1d, 0x09, 0x46,
        0x1c, 0x72, 0xf6, 0x3f, 0xf8, 0x74, 0xb3, 0xef, 0x9d, 0x0c, 0x3c, 0xbd, 0x82, 0xb9, 0xba, 0xa9, 0xfd, 0x44,
        0x69, 0x29, 0x6a, 0xa0, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f,
        0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
        0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33,
        0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xc0,
        0x00, 0x00, 0x00, 0x15, 0x00, 0x13, 0x00, 0x00, 0x10, 0x73, 0x6d, 0x74, 0x70, 0x2e, 0x65, 0x78, 0x61, 0x6d,
        0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00,
        0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01,
        0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0a, 0x00, 0x08, 0x04, 0x73, 0x6d,
        0x74, 0x70, 0x02, 0x68, 0x32, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00,
        0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08,
        0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04,
        0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01,
        0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xc2, 0x46,
        0xea, 0x4a, 0xf6, 0x71, 0x8e, 0x03, 0x64, 0x82, 0x11, 0x9a, 0xb4, 0x1b, 0xf1, 0x79, 0xaf, 0x95, 0x44, 0x7d,
        0x25, 0x54, 0x50, 0x22, 0x0f, 0xa6, 0x4c, 0x11, 0xb6, 0x8a, 0x54, 0x3e,
};

/* openssl s_client -tls1 -cipher DEFAULT@SECLEVEL=0 -servername old.example.net */
static const uint8_t hello_openssl_tls10[] = {
        0x16, 0x03, 0x01, 0x00, 0x7b, 0x01, 0x00, 0x00, 0x77, 0x03, 0x01, 0x5f, 0x42, 0x98, 0x55, 0xb2,
        0x10, 0x80, 0x4a, 0x34, 0x4e, 0x74, 0xcf, 0x85, 0x73, 0x6f, 0x55, 0x43, 0xf0, 0xae, 0xa5, 0x9c,
        0x87, 0xe9, 0xdf, 0x83, 0x7e, 0x63, 0xf5, 0xac, 0x2d, 0xe8, 0xe0, 0x00, 0x00, 0x12, 0xc0, 0x0a,
        0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff,
        0x01, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00, 0x0f, 0x6f, 0x6c, 0x64,
        0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6e, 0x65, 0x74, 0x00, 0x0b, 0x00, 0x04,
        0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e,
        0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
};

/* Python 3.13 ssl.create_default_context(), server_hostname mx.example.com */
static const uint8_t hello_python313[] = {
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0xd5, 0x22, 0x07, 0xdb, 0x87, 0x0c,
        0x47, 0xca, 0xa8, 0xb7, 0xd4, 0xea, 0xd7, 0x7b, 0xd6, 0xfc, 0x1a, 0x21, 0x07, 0xc9, 0xed, 0xf2, 0xd3, 0xc9,
        0xab, 0x33, 0xae, 0xf8, 0xb5, 0x0c, 0xd7, 0x20, 0x5e, 0xb2, 0x61, 0xc4, 0x2a, 0x96, 0x53, 0xcc, 0xb6, 0xcd,
        0xb8, 0xcc, 0x8c, 0xf2, 0x13, 0xbc, 0x9b, 0xeb, 0xde, 0x73, 0xa8, 0x2a, 0x6f, 0x6f, 0x54, 0x8d, 0x5b, 0x76,
        0xec, 0xbb, 0xda, 0x02, 0x00, 0x24, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0xc0, 0x2b,
        0xc0, 0x2f, 0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x24, 0xc0, 0x28, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x9f, 0x00, 0x9e,
        0x00, 0x6b, 0x00, 0x67, 0x00, 0xff, 0x01, 0x00, 0x01, 0x8f, 0x00, 0x00, 0x00, 0x13, 0x00, 0x11, 0x00, 0x00,
        0x0e, 0x6d, 0x78, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x00, 0x0b, 0x00,
        0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00,
        0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00,
        0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06,
        0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04,
        0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00,
        0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26,
        0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xf6, 0x06, 0x04, 0xba, 0x60, 0x04, 0x25, 0x3f, 0x7f, 0x75, 0xb3, 0x5e,
        0x14, 0xfe, 0x28, 0xbb, 0x62, 0x1e, 0x94, 0xe5, 0xc7, 0xbb, 0x24, 0xc2, 0xed, 0xb9, 0x38, 0x2e, 0x35, 0xfe,
        0xb3, 0x29, 0x00, 0x15, 0x00, 0xdf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* SSLv2-format CLIENT-HELLO offering TLS 1.0, as pre-2010 clients sent (built by hand) */
static const uint8_t hello_sslv2[] = {
        0x80, 0x2b, 0x01, 0x03, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x10, 0x01, 0x00, 0x80, 0x07,
        0x00, 0xc0, 0x00, 0x00, 0x35, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x0a, 0x00, 0x00, 0xff, 0x00,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};

struct captured {
	const char *name;
	const uint8_t *p;
	size_t len;
	uint16_t legacy_version;
	uint16_t max_version;
	const char *sni;
	unsigned ncipher_suites;
	const char *alpn; /* NULL: no ALPN extension */
};

#define CAPTURED(a) #a, a, sizeof a

static const struct captured captured[] = {
        {CAPTURED(hello_openssl_tls12_sni), 0x0303, 0x0303, "mail.example.com", 28, NULL},
        {CAPTURED(hello_openssl_tls13_sni), 0x0303, 0x0304, "mail.example.com", 4, NULL},
        {CAPTURED(hello_openssl_alpn), 0x0303, 0x0304, "smtp.example.org", 31, "smtp"},
        {CAPTURED(hello_openssl_tls10), 0x0301, 0x0301, "old.example.net", 9, NULL},
        {CAPTURED(hello_python313), 0x0303, 0x0304, "mx.example.com", 18, NULL},
};
#define NCAPTURED (sizeof captured / sizeof captured[0])

static void check_facts(const struct captured *c, const struct tls_client_hello *h)
{
	assert_int_equal(h->record_version, 0x0301);
	assert_int_equal(h->legacy_version, c->legacy_version);
	assert_int_equal(h->max_version, c->max_version);
	assert_string_equal(h->sni, c->sni);
	assert_int_equal(h->ncipher_suites, c->ncipher_suites);
	assert_int_equal(h->has_alpn, c->alpn != NULL);
	assert_string_equal(h->alpn_first, c->alpn != NULL ? c->alpn : "");
}

/* ---- building hellos by hand ---- */

static void put8(struct buf *b, size_t v)
{
	buf_append_byte(b, (uint8_t)v);
}

static void put16(struct buf *b, size_t v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void put24(struct buf *b, size_t v)
{
	put8(b, v >> 16);
	put16(b, v);
}

static void put_fill(struct buf *b, uint8_t c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(b, c);
}

/* The fixed part of a ClientHello body: version, random, session id,
 * cipher suites (suites_bytes long), compression methods. */
static void hello_fixed(struct buf *b, uint16_t legacy, size_t sid_len, size_t suites_bytes, size_t comp_len)
{
	put16(b, legacy);
	put_fill(b, 0x11, 32);
	put8(b, sid_len);
	put_fill(b, 0x22, sid_len);
	put16(b, suites_bytes);
	for (size_t i = 0; i < suites_bytes; i++)
		put8(b, i % 2 ? 0x01 : 0x13);
	put8(b, comp_len);
	put_fill(b, 0, comp_len);
}

static void ext_raw(struct buf *exts, size_t type, const void *data, size_t len)
{
	put16(exts, type);
	put16(exts, len);
	buf_append(exts, data, len);
}

static void ext_sni(struct buf *exts, const char *name, size_t len)
{
	struct buf e;
	buf_init(&e);
	put16(&e, len + 3);
	put8(&e, 0);
	put16(&e, len);
	buf_append(&e, name, len);
	ext_raw(exts, 0, e.data, e.len);
	buf_free(&e);
}

static void ext_versions(struct buf *exts, const uint16_t *v, size_t n)
{
	struct buf e;
	buf_init(&e);
	put8(&e, 2 * n);
	for (size_t i = 0; i < n; i++)
		put16(&e, v[i]);
	ext_raw(exts, 43, e.data, e.len);
	buf_free(&e);
}

/* ALPN from a list of protocol names ending with NULL. */
static void ext_alpn(struct buf *exts, const char *const *names)
{
	struct buf e, list;
	buf_init(&e);
	buf_init(&list);
	for (size_t i = 0; names[i] != NULL; i++) {
		put8(&list, strlen(names[i]));
		buf_append_str(&list, names[i]);
	}
	put16(&e, list.len);
	buf_append(&e, list.data, list.len);
	ext_raw(exts, 16, e.data, e.len);
	buf_free(&e);
	buf_free(&list);
}

/* Record(s) around a ClientHello whose body is fixed + (when exts is not
 * NULL) the extensions block. */
static void hello_wrap(struct buf *out, const struct buf *fixed, const struct buf *exts)
{
	size_t body = fixed->len + (exts != NULL ? 2 + exts->len : 0);

	buf_init(out);
	put8(out, 0x16);
	put16(out, 0x0301);
	put16(out, 4 + body);
	put8(out, 1);
	put24(out, body);
	buf_append(out, fixed->data, fixed->len);
	if (exts != NULL) {
		put16(out, exts->len);
		buf_append(out, exts->data, exts->len);
	}
}

/* A TLS 1.3-style hello with the given extensions block. */
static void hello_with_exts(struct buf *out, const struct buf *exts)
{
	struct buf fixed;
	buf_init(&fixed);
	hello_fixed(&fixed, 0x0303, 32, 6, 1);
	hello_wrap(out, &fixed, exts);
	buf_free(&fixed);
}

static int parse(const struct buf *b, struct tls_client_hello *h)
{
	/* An exact-size copy, so that a read past the end is a sanitizer error. */
	uint8_t *copy = xmemdup(b->data, b->len);
	int rc = tls_sniff_client_hello(copy, b->len, h);
	free(copy);
	return rc;
}

/* Offsets in a one-record hello. */
#define OFF_RECORD_LEN 3
#define OFF_HS_TYPE    5
#define OFF_HS_LEN     6
#define OFF_BODY       9
#define OFF_SID_LEN    (OFF_BODY + 2 + 32)

/* ---- tls_sniff ---- */

struct sniff_case {
	const char *bytes;
	size_t len;
	enum tls_sniff_kind kind;
};

#define S(lit, kind)                                                                                                   \
	{                                                                                                              \
		lit, sizeof(lit) - 1, kind                                                                             \
	}

static void test_sniff_kinds(void **state)
{
	static const struct sniff_case cases[] = {
	        S("", TLS_SNIFF_NEED_MORE),
	        /* TLS records */
	        S("\x16", TLS_SNIFF_NEED_MORE),
	        S("\x16\x03", TLS_SNIFF_NEED_MORE),
	        S("\x16\x03\x01", TLS_SNIFF_TLS),
	        S("\x16\x03\x00\x00\x10", TLS_SNIFF_TLS),
	        S("\x16\x03\x04", TLS_SNIFF_TLS),
	        S("\x16\x03\x05", TLS_SNIFF_OTHER),
	        S("\x16\x02", TLS_SNIFF_OTHER),
	        S("\x16\x04\x01", TLS_SNIFF_OTHER),
	        S("\x17\x03\x03", TLS_SNIFF_OTHER),
	        /* SSLv2 */
	        S("\x80", TLS_SNIFF_NEED_MORE),
	        S("\x80\x2b", TLS_SNIFF_NEED_MORE),
	        S("\x80\x2b\x01", TLS_SNIFF_SSL2),
	        S("\xff\xff\x01\x03\x01", TLS_SNIFF_SSL2),
	        S("\x80\x2b\x02", TLS_SNIFF_OTHER),
	        S("\xc3\xa9t\xc3\xa9", TLS_SNIFF_OTHER),
	        /* HTTP: case-sensitive, a space after the method */
	        S("GET / HTTP/1.1\r\n", TLS_SNIFF_HTTP),
	        S("POST /api HTTP/1.1", TLS_SNIFF_HTTP),
	        S("HEAD / HTTP/1.0", TLS_SNIFF_HTTP),
	        S("PUT /x", TLS_SNIFF_HTTP),
	        S("DELETE /x", TLS_SNIFF_HTTP),
	        S("OPTIONS * HTTP/1.1", TLS_SNIFF_HTTP),
	        S("CONNECT mail.example.com:25 HTTP/1.1", TLS_SNIFF_HTTP),
	        S("PATCH /x", TLS_SNIFF_HTTP),
	        S("TRACE /", TLS_SNIFF_HTTP),
	        S("G", TLS_SNIFF_NEED_MORE),
	        S("GE", TLS_SNIFF_NEED_MORE),
	        S("GET", TLS_SNIFF_NEED_MORE),
	        S("OPTIONS", TLS_SNIFF_NEED_MORE),
	        S("GETS", TLS_SNIFF_OTHER),
	        S("GET\r\n", TLS_SNIFF_OTHER),
	        S("get / HTTP/1.1", TLS_SNIFF_OTHER),
	        S("HEAD\r\n", TLS_SNIFF_OTHER),
	        /* SMTP: any case; space, CR or LF after the verb */
	        S("EHLO client.example.com\r\n", TLS_SNIFF_SMTP),
	        S("ehlo x\r\n", TLS_SNIFF_SMTP),
	        S("HeLo x\r\n", TLS_SNIFF_SMTP),
	        S("MAIL FROM:<a@b>\r\n", TLS_SNIFF_SMTP),
	        S("RCPT TO:<a@b>\r\n", TLS_SNIFF_SMTP),
	        S("DATA\r\n", TLS_SNIFF_SMTP),
	        S("QUIT\r\n", TLS_SNIFF_SMTP),
	        S("quit\n", TLS_SNIFF_SMTP),
	        S("RSET\r\n", TLS_SNIFF_SMTP),
	        S("NOOP\r", TLS_SNIFF_SMTP),
	        S("AUTH PLAIN AGFAYg==\r\n", TLS_SNIFF_SMTP),
	        S("STARTTLS\r\n", TLS_SNIFF_SMTP),
	        S("starttls\n", TLS_SNIFF_SMTP),
	        S("VRFY postmaster\r\n", TLS_SNIFF_SMTP),
	        S("HELP\r\n", TLS_SNIFF_SMTP),
	        S("BDAT 10 LAST\r\n", TLS_SNIFF_SMTP),
	        S("E", TLS_SNIFF_NEED_MORE),
	        S("eh", TLS_SNIFF_NEED_MORE),
	        S("EHL", TLS_SNIFF_NEED_MORE),
	        S("EHLO", TLS_SNIFF_NEED_MORE),
	        S("STARTTL", TLS_SNIFF_NEED_MORE),
	        S("STARTTLS", TLS_SNIFF_NEED_MORE),
	        S("H", TLS_SNIFF_NEED_MORE),   /* HEAD, HELO, HELP */
	        S("HE", TLS_SNIFF_NEED_MORE),  /* HEAD, HELO, HELP */
	        S("HEL", TLS_SNIFF_NEED_MORE), /* HELO, HELP */
	        S("P", TLS_SNIFF_NEED_MORE),   /* POST, PUT, PATCH */
	        S("EHLOX", TLS_SNIFF_OTHER),
	        S("EHLO\t", TLS_SNIFF_OTHER),
	        S("STARTTLSX", TLS_SNIFF_OTHER),
	        S("EXPN list\r\n", TLS_SNIFF_OTHER),
	        S("SSH-2.0-OpenSSH_9.2\r\n", TLS_SNIFF_OTHER),
	        S("\r\n", TLS_SNIFF_OTHER),
	        S(" EHLO x", TLS_SNIFF_OTHER),
	        S("\0EHLO", TLS_SNIFF_OTHER),
	        S("X", TLS_SNIFF_OTHER),
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t *copy = xmemdup(cases[i].bytes, cases[i].len);
		enum tls_sniff_kind got = tls_sniff(copy, cases[i].len);
		free(copy);
		if (got != cases[i].kind)
			fail_msg("case %zu (%zu bytes): got %s, want %s", i, cases[i].len, tls_sniff_kind_name(got),
			         tls_sniff_kind_name(cases[i].kind));
	}
}

/* A kind, once decided, stays the same however much more arrives. */
static void test_sniff_prefixes_agree(void **state)
{
	static const char *const inputs[] = {"EHLO x\r\n",         "GET / HTTP/1.1\r\n", "STARTTLS\r\n",
	                                     "OPTIONS * HTTP/1.1", "helo x\r\n",         "CONNECT a:1 HTTP/1.1"};

	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		size_t n = strlen(inputs[i]);
		enum tls_sniff_kind final = tls_sniff((const uint8_t *)inputs[i], n);
		assert_true(final == TLS_SNIFF_SMTP || final == TLS_SNIFF_HTTP);
		for (size_t k = 0; k < n; k++) {
			enum tls_sniff_kind got = tls_sniff((const uint8_t *)inputs[i], k);
			assert_true(got == TLS_SNIFF_NEED_MORE || got == final);
		}
	}
	for (size_t c = 0; c < NCAPTURED; c++) {
		assert_int_equal(tls_sniff(captured[c].p, 1), TLS_SNIFF_NEED_MORE);
		assert_int_equal(tls_sniff(captured[c].p, 2), TLS_SNIFF_NEED_MORE);
		for (size_t k = 3; k <= captured[c].len; k++)
			assert_int_equal(tls_sniff(captured[c].p, k), TLS_SNIFF_TLS);
	}
	assert_int_equal(tls_sniff(hello_sslv2, sizeof hello_sslv2), TLS_SNIFF_SSL2);
}

static void test_kind_names(void **state)
{
	assert_string_equal(tls_sniff_kind_name(TLS_SNIFF_NEED_MORE), "need_more");
	assert_string_equal(tls_sniff_kind_name(TLS_SNIFF_TLS), "tls");
	assert_string_equal(tls_sniff_kind_name(TLS_SNIFF_SSL2), "ssl2");
	assert_string_equal(tls_sniff_kind_name(TLS_SNIFF_HTTP), "http");
	assert_string_equal(tls_sniff_kind_name(TLS_SNIFF_SMTP), "smtp");
	assert_string_equal(tls_sniff_kind_name(TLS_SNIFF_OTHER), "other");
	assert_string_equal(tls_sniff_kind_name((enum tls_sniff_kind)42), "other");
}

static void test_version_names(void **state)
{
	char buf[16];

	assert_string_equal(tls_sniff_version_name(0x0002, buf, sizeof buf), "SSL 2.0");
	assert_string_equal(tls_sniff_version_name(0x0300, buf, sizeof buf), "SSL 3.0");
	assert_string_equal(tls_sniff_version_name(0x0301, buf, sizeof buf), "TLS 1.0");
	assert_string_equal(tls_sniff_version_name(0x0302, buf, sizeof buf), "TLS 1.1");
	assert_string_equal(tls_sniff_version_name(0x0303, buf, sizeof buf), "TLS 1.2");
	assert_string_equal(tls_sniff_version_name(0x0304, buf, sizeof buf), "TLS 1.3");
	assert_string_equal(tls_sniff_version_name(0x7f1c, buf, sizeof buf), "0x7f1c");
	assert_string_equal(tls_sniff_version_name(0x0a0a, buf, sizeof buf), "0x0a0a");
	assert_string_equal(tls_sniff_version_name(0x0305, buf, sizeof buf), "0x0305");
	assert_string_equal(tls_sniff_version_name(0x0304, buf, 4), "TLS");
	assert_string_equal(tls_sniff_version_name(0x0304, buf, 0), "");
}

/* ---- ClientHello: captured ---- */

static void test_captured_hellos(void **state)
{
	for (size_t c = 0; c < NCAPTURED; c++) {
		struct tls_client_hello h;
		uint8_t *copy = xmemdup(captured[c].p, captured[c].len);
		int rc = tls_sniff_client_hello(copy, captured[c].len, &h);
		free(copy);
		if (rc != 0)
			fail_msg("%s: not parsed", captured[c].name);
		assert_true(h.complete);
		check_facts(&captured[c], &h);
	}
}

/* Bytes after the ClientHello (a client that does not wait) change nothing. */
static void test_captured_with_trailing_bytes(void **state)
{
	struct buf b;
	struct tls_client_hello h;

	buf_init(&b);
	buf_append(&b, hello_openssl_tls13_sni, sizeof hello_openssl_tls13_sni);
	buf_append_str(&b, "\x17\x03\x03\x00\x05hello");
	assert_int_equal(parse(&b, &h), 0);
	assert_true(h.complete);
	check_facts(&captured[1], &h);
	buf_free(&b);
}

/* Every prefix is a truncated hello: parsed, complete = 0, and no fact that
 * the whole hello contradicts (a name is whole or absent). */
static void test_every_prefix(void **state)
{
	for (size_t c = 0; c < NCAPTURED; c++) {
		for (size_t k = 1; k < captured[c].len; k++) {
			struct tls_client_hello h;
			uint8_t *copy = xmemdup(captured[c].p, k);
			int rc = tls_sniff_client_hello(copy, k, &h);
			free(copy);
			if (rc != 0)
				fail_msg("%s: prefix of %zu bytes refused", captured[c].name, k);
			assert_false(h.complete);
			assert_true(h.sni[0] == '\0' || strcmp(h.sni, captured[c].sni) == 0);
			assert_true(h.alpn_first[0] == '\0' || strcmp(h.alpn_first, captured[c].alpn) == 0);
			if (h.ncipher_suites != 0)
				assert_int_equal(h.ncipher_suites, captured[c].ncipher_suites);
		}
	}
}

/* The handshake message re-recorded in pieces of `piece` bytes. */
static void rerecord(const struct captured *c, size_t first, size_t piece, struct buf *out)
{
	const uint8_t *hs = c->p + 5;
	size_t len = c->len - 5, pos = 0;

	buf_init(out);
	while (pos < len) {
		size_t n = pos == 0 ? first : piece;
		if (n > len - pos)
			n = len - pos;
		put8(out, 0x16);
		put16(out, 0x0301);
		put16(out, n);
		buf_append(out, hs + pos, n);
		pos += n;
	}
}

static void check_split(const struct captured *c, size_t first, size_t piece, int prefixes)
{
	struct buf b;
	struct tls_client_hello h;

	rerecord(c, first, piece, &b);
	if (parse(&b, &h) != 0)
		fail_msg("%s: records of %zu then %zu bytes refused", c->name, first, piece);
	assert_true(h.complete);
	check_facts(c, &h);
	if (prefixes) {
		size_t full = b.len;
		for (b.len = 1; b.len < full; b.len++) {
			assert_int_equal(parse(&b, &h), 0);
			assert_false(h.complete);
			assert_true(h.sni[0] == '\0' || strcmp(h.sni, c->sni) == 0);
		}
	}
	buf_free(&b);
}

static void test_split_over_records(void **state)
{
	static const size_t pieces[] = {1, 2, 3, 7, 100};

	for (size_t c = 0; c < NCAPTURED; c++) {
		size_t len = captured[c].len - 5;
		/* Two records, cut at every place. */
		for (size_t cut = 1; cut < len; cut++)
			check_split(&captured[c], cut, len, cut % 37 == 0);
		/* Many small records, and every prefix of them. */
		for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
			check_split(&captured[c], pieces[i], pieces[i], 1);
	}
}

static void test_sslv2_hello(void **state)
{
	struct tls_client_hello h;

	assert_int_equal(tls_sniff_client_hello(hello_sslv2, sizeof hello_sslv2, &h), 0);
	assert_true(h.complete);
	assert_int_equal(h.record_version, 0x0002);
	assert_int_equal(h.legacy_version, 0x0301);
	assert_int_equal(h.max_version, 0x0301);
	assert_int_equal(h.ncipher_suites, 6);
	assert_string_equal(h.sni, "");
	assert_false(h.has_alpn);

	for (size_t k = 1; k < sizeof hello_sslv2; k++) {
		assert_int_equal(tls_sniff_client_hello(hello_sslv2, k, &h), 0);
		assert_false(h.complete);
	}

	uint8_t bad[sizeof hello_sslv2];
	memcpy(bad, hello_sslv2, sizeof bad);
	bad[2] = 4; /* not CLIENT-HELLO */
	assert_int_equal(tls_sniff_client_hello(bad, sizeof bad, &h), -1);
	memcpy(bad, hello_sslv2, sizeof bad);
	bad[6] = 0x13; /* cipher specs not a multiple of 3 */
	assert_int_equal(tls_sniff_client_hello(bad, sizeof bad, &h), -1);
	memcpy(bad, hello_sslv2, sizeof bad);
	bad[1]++; /* record length disagrees with the parts */
	assert_int_equal(tls_sniff_client_hello(bad, sizeof bad, &h), -1);
}

static void test_not_a_hello(void **state)
{
	static const char *const inputs[] = {"EHLO x\r\n", "GET / HTTP/1.1\r\n", "\x17\x03\x03\x00\x10",
	                                     "\x15\x03\x03"};
	struct tls_client_hello h;

	assert_int_equal(tls_sniff_client_hello((const uint8_t *)"", 0, &h), -1);
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
		assert_int_equal(tls_sniff_client_hello((const uint8_t *)inputs[i], strlen(inputs[i]), &h), -1);
	/* A record header, but not a handshake record carrying a ClientHello. */
	assert_int_equal(tls_sniff_client_hello((const uint8_t *)"\x16\x02", 2, &h), -1);
	assert_int_equal(tls_sniff_client_hello((const uint8_t *)"\x16\x03\x03\x00\x00\x01", 6, &h), -1);
	assert_int_equal(tls_sniff_client_hello((const uint8_t *)"\x16\x03\x03\x40\x01\x01", 6, &h), -1);
	assert_int_equal(tls_sniff_client_hello((const uint8_t *)"\x16\x03\x03\x00\x10\x02", 6, &h), -1);
	/* A plausible start. */
	assert_int_equal(tls_sniff_client_hello((const uint8_t *)"\x16\x03\x01\x00\x10\x01", 6, &h), 0);
	assert_false(h.complete);
	assert_int_equal(h.record_version, 0x0301);
}

/* ---- ClientHello: built by hand ---- */

/* Patches a big-endian number of n bytes at off. */
static void patch(struct buf *b, size_t off, size_t n, size_t v)
{
	for (size_t i = 0; i < n; i++)
		b->data[off + n - 1 - i] = (uint8_t)(v >> (8 * i));
}

static void test_lying_lengths(void **state)
{
	struct buf fixed, exts, b;
	struct tls_client_hello h;
	size_t ext_block;

	buf_init(&fixed);
	buf_init(&exts);
	hello_fixed(&fixed, 0x0303, 32, 6, 1);
	ext_sni(&exts, "mx.example", 10);
	hello_wrap(&b, &fixed, &exts);
	assert_int_equal(parse(&b, &h), 0);
	assert_true(h.complete);
	assert_string_equal(h.sni, "mx.example");
	assert_int_equal(h.ncipher_suites, 3);
	ext_block = OFF_BODY + fixed.len;

	/* Session id longer than 32. */
	b.data[OFF_SID_LEN] = 33;
	assert_int_equal(parse(&b, &h), -1);
	b.data[OFF_SID_LEN] = 32;
	/* Cipher suites: odd, empty, past the message. */
	patch(&b, OFF_SID_LEN + 33, 2, 5);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, OFF_SID_LEN + 33, 2, 0);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, OFF_SID_LEN + 33, 2, 0xfffe);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, OFF_SID_LEN + 33, 2, 6);
	/* No compression method. */
	b.data[OFF_SID_LEN + 33 + 2 + 6] = 0;
	assert_int_equal(parse(&b, &h), -1);
	b.data[OFF_SID_LEN + 33 + 2 + 6] = 1;
	/* Extensions block longer / shorter than what the message leaves. */
	patch(&b, ext_block, 2, exts.len + 1);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, ext_block, 2, exts.len - 1);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, ext_block, 2, exts.len);
	/* One extension longer than the block; its contents shorter than it. */
	patch(&b, ext_block + 4, 2, exts.len);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, ext_block + 4, 2, exts.len - 4);
	/* The server name list shorter than the extension. */
	patch(&b, ext_block + 6, 2, 12);
	assert_int_equal(parse(&b, &h), -1);
	/* ... longer than it. */
	patch(&b, ext_block + 6, 2, 14);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, ext_block + 6, 2, 13);
	/* The name longer than the list. */
	patch(&b, ext_block + 9, 2, 11);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, ext_block + 9, 2, 10);
	assert_int_equal(parse(&b, &h), 0);
	assert_string_equal(h.sni, "mx.example");
	/* Handshake length too short for the fixed part, and too long for the
	 * input (which is then a truncated hello). */
	patch(&b, OFF_HS_LEN, 3, 20);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, OFF_HS_LEN, 3, fixed.len + 2 + exts.len + 100);
	assert_int_equal(parse(&b, &h), -1); /* the extensions no longer end the message */
	patch(&b, OFF_HS_LEN, 3, fixed.len + 2 + exts.len);
	/* Record: zero length, longer than TLS allows, another content type. */
	patch(&b, OFF_RECORD_LEN, 2, 0);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, OFF_RECORD_LEN, 2, 16385);
	assert_int_equal(parse(&b, &h), -1);
	patch(&b, OFF_RECORD_LEN, 2, b.len - 5);
	b.data[OFF_HS_TYPE] = 2;
	assert_int_equal(parse(&b, &h), -1);
	b.data[OFF_HS_TYPE] = 1;
	assert_int_equal(parse(&b, &h), 0);
	assert_true(h.complete);

	/* The record shorter than the message and followed by a record that is
	 * not a handshake record, or an empty one. */
	patch(&b, OFF_RECORD_LEN, 2, 50);
	struct buf two;
	buf_init(&two);
	buf_append(&two, b.data, 5 + 50);
	buf_append_str(&two, "\x17\x03\x03");
	put16(&two, b.len - 55);
	buf_append(&two, b.data + 55, b.len - 55);
	assert_int_equal(parse(&two, &h), -1);
	two.data[55] = 0x16;
	assert_int_equal(parse(&two, &h), 0);
	assert_true(h.complete);
	assert_string_equal(h.sni, "mx.example");
	patch(&two, 58, 2, 0);
	two.len = 60;
	assert_int_equal(parse(&two, &h), -1);
	buf_free(&two);

	buf_free(&b);
	buf_free(&fixed);
	buf_free(&exts);
}

static void test_no_extensions(void **state)
{
	struct buf fixed, b;
	struct tls_client_hello h;

	buf_init(&fixed);
	hello_fixed(&fixed, 0x0301, 0, 4, 1);
	hello_wrap(&b, &fixed, NULL);
	assert_int_equal(parse(&b, &h), 0);
	assert_true(h.complete);
	assert_int_equal(h.legacy_version, 0x0301);
	assert_int_equal(h.max_version, 0x0301);
	assert_int_equal(h.ncipher_suites, 2);
	assert_string_equal(h.sni, "");
	assert_false(h.has_alpn);
	/* One byte of an extensions block is a broken hello, not a truncated one. */
	patch(&b, OFF_HS_LEN, 3, fixed.len + 1);
	patch(&b, OFF_RECORD_LEN, 2, fixed.len + 5);
	put8(&b, 0);
	assert_int_equal(parse(&b, &h), -1);
	buf_free(&b);
	buf_free(&fixed);
}

static void expect_versions(const uint16_t *v, size_t n, uint16_t want)
{
	struct buf exts, b;
	struct tls_client_hello h;

	buf_init(&exts);
	ext_versions(&exts, v, n);
	hello_with_exts(&b, &exts);
	assert_int_equal(parse(&b, &h), 0);
	assert_true(h.complete);
	assert_int_equal(h.max_version, want);
	buf_free(&b);
	buf_free(&exts);
}

static void test_supported_versions(void **state)
{
	static const uint16_t grease_first[] = {0x5a5a, 0x0304, 0x0303};
	static const uint16_t draft_and_final[] = {0x7f1c, 0x0304, 0x0303};
	static const uint16_t draft_only[] = {0x7f17};
	static const uint16_t grease_only[] = {0xfafa};
	static const uint16_t old[] = {0x0302, 0x0301};
	static const uint16_t unordered[] = {0x0301, 0x0304, 0x0302};

	expect_versions(grease_first, 3, 0x0304);
	expect_versions(draft_and_final, 3, 0x0304);
	expect_versions(draft_only, 1, 0x7f17);
	expect_versions(grease_only, 1, 0x0303); /* nothing real: legacy_version */
	expect_versions(old, 2, 0x0302);
	expect_versions(unordered, 3, 0x0304);
	expect_versions(NULL, 0, 0x0303);

	/* An odd list length. */
	struct buf exts, b;
	struct tls_client_hello h;
	buf_init(&exts);
	ext_raw(&exts, 43, "\x03\x03\x04\x03", 4);
	hello_with_exts(&b, &exts);
	assert_int_equal(parse(&b, &h), -1);
	buf_free(&b);
	buf_free(&exts);
}

static void expect_sni(const char *name, size_t len, const char *want)
{
	struct buf exts, b;
	struct tls_client_hello h;

	buf_init(&exts);
	ext_sni(&exts, name, len);
	hello_with_exts(&b, &exts);
	assert_int_equal(parse(&b, &h), 0);
	assert_true(h.complete);
	assert_string_equal(h.sni, want);
	buf_free(&b);
	buf_free(&exts);
}

static void test_server_name(void **state)
{
	char long_name[300];

	memset(long_name, 'a', sizeof long_name);
	expect_sni("mail.example.com", 16, "mail.example.com");
	expect_sni("a\x01"
	           "b",
	           3, "");
	expect_sni("a b", 3, "");
	expect_sni("a\"b\\c", 5, "a\"b\\c"); /* printable: the JSON writer escapes it */
	expect_sni("caf\xc3\xa9.example", 13, "");
	expect_sni("a\0b", 3, "");
	expect_sni("", 0, "");
	long_name[255] = '\0';
	expect_sni(long_name, 255, long_name);
	memset(long_name, 'a', sizeof long_name);
	expect_sni(long_name, 256, "");

	/* Several names: the first host_name counts, other types are skipped. */
	struct buf exts, e, b;
	struct tls_client_hello h;
	buf_init(&exts);
	buf_init(&e);
	put16(&e, 3 + 4 + 3 + 5 + 3 + 5);
	put8(&e, 7);
	put16(&e, 4);
	buf_append_str(&e, "xxxx");
	put8(&e, 0);
	put16(&e, 5);
	buf_append_str(&e, "first");
	put8(&e, 0);
	put16(&e, 5);
	buf_append_str(&e, "later");
	ext_raw(&exts, 0, e.data, e.len);
	hello_with_exts(&b, &exts);
	assert_int_equal(parse(&b, &h), 0);
	assert_string_equal(h.sni, "first");
	buf_free(&b);
	buf_free(&e);
	buf_free(&exts);

	/* An empty server_name extension (as servers send it) is no name. */
	buf_init(&exts);
	ext_raw(&exts, 0, "", 0);
	hello_with_exts(&b, &exts);
	assert_int_equal(parse(&b, &h), 0);
	assert_string_equal(h.sni, "");
	buf_free(&b);
	buf_free(&exts);
}

static void expect_alpn(const char *const *names, int want_rc, const char *want)
{
	struct buf exts, b;
	struct tls_client_hello h;

	buf_init(&exts);
	ext_alpn(&exts, names);
	hello_with_exts(&b, &exts);
	assert_int_equal(parse(&b, &h), want_rc);
	if (want_rc == 0) {
		assert_true(h.complete);
		assert_true(h.has_alpn);
		assert_string_equal(h.alpn_first, want);
	}
	buf_free(&b);
	buf_free(&exts);
}

static void test_alpn(void **state)
{
	static const char *const h2[] = {"h2", "http/1.1", NULL};
	static const char *const smtp[] = {"smtp", NULL};
	static const char *const none[] = {NULL};
	static const char *const empty_name[] = {"", NULL};
	static const char *const second_empty[] = {"imap", "", NULL};
	static const char *const long31[] = {"abcdefghijklmnopqrstuvwxyz01234", NULL};
	static const char *const long32[] = {"abcdefghijklmnopqrstuvwxyz012345", "h2", NULL};
	static const char *const binary[] = {"\x01\x02", NULL};

	expect_alpn(h2, 0, "h2");
	expect_alpn(smtp, 0, "smtp");
	expect_alpn(none, 0, "");
	expect_alpn(empty_name, -1, "");
	expect_alpn(second_empty, 0, "imap"); /* only the first name is read */
	expect_alpn(long31, 0, long31[0]);
	expect_alpn(long32, 0, "");
	expect_alpn(binary, 0, "");
}

/* Unknown extensions are skipped; the known ones after them still count. */
static void test_extensions_mixed(void **state)
{
	static const uint16_t v13[] = {0x0304};
	static const char *const alpn[] = {"smtp", NULL};
	struct buf exts, b;
	struct tls_client_hello h;

	buf_init(&exts);
	ext_raw(&exts, 0x0a0a, "", 0);
	ext_raw(&exts, 10, "\x00\x04\x00\x1d\x00\x17", 6);
	ext_sni(&exts, "mx1.example.net", 15);
	ext_raw(&exts, 0xff01, "\x00", 1);
	ext_versions(&exts, v13, 1);
	ext_alpn(&exts, alpn);
	ext_raw(&exts, 21, "\0\0\0\0\0\0\0\0", 8);
	hello_with_exts(&b, &exts);
	assert_int_equal(parse(&b, &h), 0);
	assert_true(h.complete);
	assert_string_equal(h.sni, "mx1.example.net");
	assert_int_equal(h.max_version, 0x0304);
	assert_string_equal(h.alpn_first, "smtp");
	buf_free(&b);
	buf_free(&exts);
}

/* A repeated extension (which RFC 8446 4.2 forbids) never replaces the
 * first: facts must not change as more of a hello arrives (found by the
 * fuzzer: corpus/fuzz_tls_sniff/repeated_extension). */
static void test_repeated_extensions(void **state)
{
	static const uint16_t v13[] = {0x0304}, v12[] = {0x0303};
	static const char *const first[] = {"smtp", NULL}, *const second[] = {"h2", NULL};
	struct buf exts, b;
	struct tls_client_hello h;

	buf_init(&exts);
	ext_sni(&exts, "one.example", 11);
	ext_versions(&exts, v13, 1);
	ext_alpn(&exts, first);
	ext_sni(&exts, "two.example", 11);
	ext_versions(&exts, v12, 1);
	ext_alpn(&exts, second);
	hello_with_exts(&b, &exts);
	assert_int_equal(parse(&b, &h), 0);
	assert_true(h.complete);
	assert_string_equal(h.sni, "one.example");
	assert_int_equal(h.max_version, 0x0304);
	assert_string_equal(h.alpn_first, "smtp");
	buf_free(&b);
	buf_free(&exts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sniff_kinds),
	        cmocka_unit_test(test_sniff_prefixes_agree),
	        cmocka_unit_test(test_kind_names),
	        cmocka_unit_test(test_version_names),
	        cmocka_unit_test(test_captured_hellos),
	        cmocka_unit_test(test_captured_with_trailing_bytes),
	        cmocka_unit_test(test_every_prefix),
	        cmocka_unit_test(test_split_over_records),
	        cmocka_unit_test(test_sslv2_hello),
	        cmocka_unit_test(test_not_a_hello),
	        cmocka_unit_test(test_lying_lengths),
	        cmocka_unit_test(test_no_extensions),
	        cmocka_unit_test(test_supported_versions),
	        cmocka_unit_test(test_server_name),
	        cmocka_unit_test(test_alpn),
	        cmocka_unit_test(test_extensions_mixed),
	        cmocka_unit_test(test_repeated_extensions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
