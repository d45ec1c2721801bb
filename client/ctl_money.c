/* ctl_money.c — Money to an exact decimal string (ctl_money.h): integer
 * arithmetic on units and nanos only. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl_money.h"
#include "tallinn/currency.h"

void ctl_money_decimal(const Tallinn__V1__Money *m, char *buf, size_t len)
{
    int64_t units = m->units;
    int32_t nanos = m->nanos;
    int minor = m->currency_code != NULL
                    ? currency_minor_units(m->currency_code, strlen(m->currency_code))
                    : -1;
    uint64_t u = units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;
    char frac[16];
    int keep = 9;

    if (nanos < -999999999 || nanos > 999999999 || (units > 0 && nanos < 0) ||
        (units < 0 && nanos > 0)) {
        if (len > 0)
            buf[0] = '\0';
        return;
    }
    snprintf(frac, sizeof frac, "%09d", nanos < 0 ? -nanos : nanos);
    while (keep > (minor < 0 ? 0 : minor) && frac[keep - 1] == '0')
        keep--;
    frac[keep] = '\0';
    snprintf(buf, len, "%s%" PRIu64 "%s%s", units < 0 || nanos < 0 ? "-" : "", u,
             keep > 0 ? "." : "", frac);
}
