/* tlog_util.h — helpers shared by the transparency-log library's files
 * (the lib/ sources); not part of its public interface. */
#ifndef TALLINN_TLOG_UTIL_H
#define TALLINN_TLOG_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes a printf-style message into err (may be NULL) and returns code. */
int tlog__set_err(char *err, size_t err_size, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Decimal, no sign, no leading zeros (except "0"), fits in 64 bits.
 * 0 or -EINVAL. */
int tlog__parse_u64(const char *s, size_t len, uint64_t *out);

uint32_t tlog__be32(const uint8_t *b);
void tlog__put_be32(uint8_t *b, uint32_t v);
uint64_t tlog__be64(const uint8_t *b);
void tlog__put_be64(uint8_t *b, uint64_t v);

/* Standard padded base64 of exactly `want` bytes, one encoding per value:
 * bytes >= 0x80 (which libsodium 1.0.18 decodes as '/'), bad characters,
 * missing padding, non-zero pad bits or another length fail with -EINVAL. */
int tlog__b64_decode_exact(const char *b64, size_t b64_len, uint8_t *out, size_t want);

/* Eight lowercase hex digits (a key ID as key strings write it); -EINVAL
 * otherwise. */
int tlog__parse_key_id_hex(const char *s, size_t len, uint32_t *id);

#endif
