/* convert.c — an amount's value in the accounting currency at an exchange
 * rate, and percentages, both exact: 128-bit integers and one rounding rule
 * (half to even), written out here because no Debian C library does decimal
 * division with a chosen rounding on int128 (libmpdec would, for one
 * division; the operands here never need more than 75 bits). */
#include <stdio.h>

#include "ledger/ledger.h"

#define NANOS 1000000000LL
#define AMOUNT_MAX ((store_sum)NANOS * NANOS) /* 10^9 units in nanos */

/* n / d (n >= 0, d > 0), rounded half to even. */
static store_sum div_half_even(store_sum n, store_sum d)
{
    store_sum q = n / d, r = n % d;

    if (2 * r > d || (2 * r == d && (q & 1) != 0))
        q++;
    return q;
}

int ledger_convert(int64_t amount_nanos, int64_t rate_nanos, int minor, int64_t *value_nanos)
{
    store_sum mag = amount_nanos < 0 ? -(store_sum)amount_nanos : (store_sum)amount_nanos;
    store_sum scale = 1, step = 1, q;

    if (rate_nanos <= 0 || minor < 0 || minor > 9)
        return -1;
    for (int i = 0; i < minor; i++)
        scale *= 10;
    for (int i = minor; i < 9; i++)
        step *= 10;
    /* amount / rate units = amount_nanos / rate_nanos; in minor units of the
     * accounting currency: amount_nanos * 10^minor / rate_nanos. At most
     * 9.2 * 10^18 * 10^9 < 2^127. */
    q = div_half_even(mag * scale, rate_nanos);
    if (q > AMOUNT_MAX / step)
        return LEDGER_ERR_RANGE;
    q *= step;
    *value_nanos = (int64_t)(amount_nanos < 0 ? -q : q);
    return 0;
}

void ledger_percent(store_sum num, store_sum den, char *buf, size_t cap)
{
    /* Hundredths of a percent: num * 10^4 / den. Totals a Money holds are
     * below 2^103 nanos, so num * 10^4 stays below 2^117. */
    store_sum h;
    char digits[48];
    size_t n = 0;

    if (buf == NULL || cap == 0)
        return;
    buf[0] = '\0';
    if (den <= 0 || num < 0)
        return;
    h = div_half_even(num * 10000, den);
    snprintf(digits, sizeof(digits), ".%02d", (int)(h % 100));
    h /= 100;
    {
        char whole[40];
        do {
            whole[n++] = (char)('0' + (int)(h % 10));
            h /= 10;
        } while (h > 0 && n < sizeof(whole) - 1);
        for (size_t i = 0; i < n / 2; i++) {
            char t = whole[i];
            whole[i] = whole[n - 1 - i];
            whole[n - 1 - i] = t;
        }
        whole[n] = '\0';
        snprintf(buf, cap, "%s%s", whole, digits);
    }
}
