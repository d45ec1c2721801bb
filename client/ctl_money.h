/* ctl_money.h — a Money as an exact decimal string with its currency's
 * minor units, for exports (CSV cells, IATI values). */
#ifndef TALLINN_CTL_MONEY_H
#define TALLINN_CTL_MONEY_H

#include <stddef.h>

#include "tallinn/v1/common.pb-c.h"

/* Longest result: sign, 19 digits, point, 9 decimals, NUL. */
#define CTL_MONEY_DECIMAL_MAX 32

/* "1234.50" (EUR), "1000" (JPY), "1.250" (KWD), "-0.50": the currency's
 * decimals from the ISO 4217 table (currency.h), and any further non-zero
 * digit the amount has (never rounded); an unknown currency shows the
 * digits it has. No thousands separator, no floating point. A Money whose
 * nanos are out of range or whose signs disagree is not one the server
 * sends: written as "" (never a wrong number). */
void ctl_money_decimal(const Tallinn__V1__Money *m, char *buf, size_t len);

#endif
