/* textsafe.c — strict UTF-8 decoding and the escaping of untrusted text for
 * audit records and terminals (textsafe.h). Written by hand: none of the
 * libraries we use (libsodium, protobuf-c, jansson) exposes a strict UTF-8
 * decoder, and the rule of what to escape is ours. service/request/validate.c
 * applies the same character classes to requests. */
#include <stdio.h>

#include "tallinn/textsafe.h"

size_t textsafe_utf8_next(const char *s, size_t len, size_t i, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[i];
    size_t n;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0; /* a continuation byte, C0/C1 (always overlong), F5..FF */
    }
    if (len - i < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((u[i + k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (u[i + k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

/* 1: a single byte shown as \xHH; 2: a code point shown as \u{XXXX}. */
static int escape_class(uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F)
        return 1;
    if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
        (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
        return 2;
    return 0;
}

int textsafe_is_clean(const char *s, size_t len)
{
    size_t i = 0, n;
    uint32_t cp;

    while (i < len) {
        if ((n = textsafe_utf8_next(s, len, i, &cp)) == 0 || escape_class(cp) != 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t textsafe_escape(const char *s, size_t len, unsigned flags, char *out, size_t cap,
                       size_t *out_len)
{
    size_t i = 0, o = 0;

    while (i < len) {
        char unit[TEXTSAFE_UNIT_MAX];
        const char *src = unit;
        uint32_t cp = 0;
        size_t n = textsafe_utf8_next(s, len, i, &cp), w;
        int cls = n == 0 ? 1 : escape_class(cp);

        if (n == 0) {
            n = 1;
            cp = (unsigned char)s[i];
        }
        if (cls == 1)
            w = (size_t)snprintf(unit, sizeof(unit), "\\x%02X", (unsigned)cp);
        else if (cls == 2)
            w = (size_t)snprintf(unit, sizeof(unit), "\\u{%04X}", (unsigned)cp);
        else if (cp == '\\' && (flags & TEXTSAFE_BACKSLASH))
            w = 2, src = "\\\\";
        else
            w = n, src = s + i;
        if (w >= cap - o) /* room for the unit and the NUL */
            break;
        for (size_t k = 0; k < w; k++)
            out[o++] = src[k];
        i += n;
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return i;
}
