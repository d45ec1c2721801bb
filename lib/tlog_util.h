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

#endif
