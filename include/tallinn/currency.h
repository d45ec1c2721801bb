/* currency.h — the ISO 4217 currencies the mechanism accepts, with their
 * minor units (how many decimals an amount may have). Pure lookups over a
 * table in code (service/request/currency.c says where it comes from). */
#ifndef TALLINN_CURRENCY_H
#define TALLINN_CURRENCY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest minor unit of any currency (CLF, UYW: 4 decimals). */
#define CURRENCY_MINOR_UNITS_MAX 4

/* The minor units (0..4) of the active ISO 4217 code s[0..len), or -1 when
 * it is not one the mechanism accepts: not a code, withdrawn, or without
 * minor units (precious metals, SDR, test and "no currency" codes). */
int currency_minor_units(const char *s, size_t len);

/* The number of codes in the table, and the i-th code ("AED", ...; in code
 * order), for tests and completion. NULL past the end. */
size_t currency_count(void);
const char *currency_code_at(size_t i);

#ifdef __cplusplus
}
#endif

#endif
