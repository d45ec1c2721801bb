/* tlog_util.c — helpers shared by the transparency-log library's files. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <sodium.h>

#include "tlog_util.h"

int tlog__set_err(char *err, size_t err_size, int code, const char *fmt, ...)
{
    if (err && err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return code;
}

int tlog__parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

uint32_t tlog__be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

void tlog__put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

uint64_t tlog__be64(const uint8_t *b)
{
    return (uint64_t)tlog__be32(b) << 32 | tlog__be32(b + 4);
}

void tlog__put_be64(uint8_t *b, uint64_t v)
{
    tlog__put_be32(b, (uint32_t)(v >> 32));
    tlog__put_be32(b + 4, (uint32_t)v);
}

int tlog__b64_decode_exact(const char *b64, size_t b64_len, uint8_t *out, size_t want)
{
    size_t bin_len = 0;
    for (size_t i = 0; i < b64_len; i++)
        if ((unsigned char)b64[i] >= 0x80)
            return -EINVAL;
    if (sodium_base642bin(out, want, b64, b64_len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -EINVAL;
    return bin_len == want ? 0 : -EINVAL;
}

int tlog__parse_key_id_hex(const char *s, size_t len, uint32_t *id)
{
    uint32_t v = 0;
    if (len != 8)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return -EINVAL;
        v = v << 4 | d;
    }
    *id = v;
    return 0;
}
