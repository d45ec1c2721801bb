/* validate.h — request checks shared by every handler: text (UTF-8, control
 * characters, length), identifiers, resource names, country codes, e-mail
 * addresses, UUIDs and money. Pure functions: no allocation, no global state,
 * safe from any thread. The limits below are the API's documented limits
 * (docs/api-conventions.md); the .proto comments quote them.
 *
 * Every function takes an explicit length, so strings need not be
 * NUL-terminated and an embedded NUL is reported (as a control character)
 * rather than silently cutting the string short. */
#ifndef TALLINN_VALIDATE_H
#define TALLINN_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes: 0 or one of these negative values. */
enum {
    VALIDATE_OK = 0,
    VALIDATE_ERR_EMPTY = -1,        /* a required value is empty */
    VALIDATE_ERR_TOO_LONG = -2,     /* longer than the limit */
    VALIDATE_ERR_UTF8 = -3,         /* not valid UTF-8 */
    VALIDATE_ERR_CONTROL = -4,      /* a control or bidi-override character */
    VALIDATE_ERR_SYNTAX = -5,       /* malformed (id, name, UUID, e-mail, ...) */
    VALIDATE_ERR_UNKNOWN = -6,      /* well-formed but not an assigned code */
    VALIDATE_ERR_CURRENCY = -7,     /* not the accounting currency */
    VALIDATE_ERR_NANOS = -8,        /* nanos outside -999,999,999..999,999,999 */
    VALIDATE_ERR_SIGN = -9,         /* units and nanos have opposite signs */
    VALIDATE_ERR_RANGE = -10,       /* amount or date out of range */
    VALIDATE_ERR_NOT_POSITIVE = -11,/* must be greater than zero */
    VALIDATE_ERR_NEGATIVE = -12,    /* must not be below zero */
    VALIDATE_ERR_OVERFLOW = -13,    /* arithmetic would overflow int64 */
    VALIDATE_ERR_NOSPACE = -14,     /* output buffer too small */
    VALIDATE_ERR_ARG = -15,         /* NULL pointer or bad argument (a bug) */
    VALIDATE_ERR_PRECISION = -16    /* more decimals than the currency has */
};

/* A short English description of a result code, for error messages.
 * Never NULL; static storage. */
const char *validate_strerror(int code);

/* ---- Limits. Text limits count Unicode code points, not bytes. ---- */
#define VALIDATE_DISPLAY_NAME_MAX 200   /* Donor, Principal display_name */
#define VALIDATE_TITLE_MAX 200          /* Need.title */
#define VALIDATE_BENEFICIARY_MAX 200    /* Need.beneficiary */
#define VALIDATE_REGION_MAX 100         /* Need.region */
#define VALIDATE_DESCRIPTION_MAX 10000  /* Need/Match description */
#define VALIDATE_REASON_MAX 2000        /* state-change reasons */
#define VALIDATE_SOURCE_MAX 500         /* Pledge.source */
#define VALIDATE_EMAIL_MAX 254          /* bytes (ASCII only), RFC 5321 */
#define VALIDATE_EMAIL_LOCAL_MAX 64     /* bytes before the '@' */
#define VALIDATE_CERT_IDENTITY_MAX 256  /* Principal.cert_identity, bytes */
#define VALIDATE_ID_MAX 63              /* AIP-122 resource id, bytes */
#define VALIDATE_ID_BUF (VALIDATE_ID_MAX + 1) /* buffer for an id + NUL */
#define VALIDATE_NAME_MAX 256           /* a whole resource name, bytes */
#define VALIDATE_UUID_LEN 36            /* 8-4-4-4-12 */
#define VALIDATE_CAPABILITIES_MAX 10    /* Donor.capabilities entries */
#define VALIDATE_FISCAL_YEAR_MIN 2014
#define VALIDATE_FISCAL_YEAR_MAX 2100

/* ---- Text ---- */

/* Flags for validate_text. */
#define VALIDATE_TEXT_REQUIRED 0x1u  /* empty is VALIDATE_ERR_EMPTY */
#define VALIDATE_TEXT_MULTILINE 0x2u /* allow TAB, LF and CR */

/* Checks that s[0..len) is valid UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF). On failure sets *bad_offset (if not NULL) to
 * the byte offset of the first invalid sequence. Returns OK or ERR_UTF8. */
int validate_utf8(const char *s, size_t len, size_t *bad_offset);

/* Checks a text field: valid UTF-8; at most max_chars code points; no C0
 * control characters (U+0000..U+001F, except TAB, LF, CR with
 * VALIDATE_TEXT_MULTILINE), no DEL or C1 controls (U+007F..U+009F), no line
 * or paragraph separators (U+2028, U+2029) unless multi-line, and never the
 * bidirectional embedding, override or isolate controls (U+202A..U+202E,
 * U+2066..U+2069) that can make text display differently from what it is.
 * On failure sets *bad_offset (if not NULL) to the byte offset of the first
 * offending character (for TOO_LONG: of the first character past the limit).
 * Returns OK, ERR_EMPTY, ERR_UTF8, ERR_CONTROL or ERR_TOO_LONG. */
int validate_text(const char *s, size_t len, size_t max_chars, unsigned flags,
                  size_t *bad_offset);

/* ---- Identifiers ---- */

/* AIP-122 resource id: [a-z]([a-z0-9-]{0,61}[a-z0-9])?.
 * Returns OK, ERR_EMPTY, ERR_TOO_LONG or ERR_SYNTAX. */
int validate_resource_id(const char *s, size_t len);

/* UUID syntax (request_id): 8-4-4-4-12 hexadecimal digits, either case.
 * The nil UUID (all zeros) is refused as ERR_SYNTAX: it is what a client
 * sends by mistake. If canon is not NULL and the UUID is valid, writes its
 * lower-case form plus NUL (VALIDATE_UUID_LEN + 1 bytes), so that equal
 * UUIDs compare equal. Returns OK, ERR_EMPTY or ERR_SYNTAX. */
int validate_uuid(const char *s, size_t len, char *canon);

/* ISO 3166-1 alpha-2 country code: two upper-case letters that are one of
 * the 249 officially assigned codes (user-assigned codes such as XK and
 * exceptionally reserved ones such as EU or UK are refused).
 * Returns OK, ERR_EMPTY, ERR_SYNTAX (not two upper-case letters) or
 * ERR_UNKNOWN (not assigned). */
int validate_country_code(const char *s, size_t len);

/* ISO 4217 syntax: three upper-case ASCII letters (not checked against the
 * list of currencies). Returns OK, ERR_EMPTY or ERR_SYNTAX. */
int validate_currency_code(const char *s, size_t len);

/* E-mail address sanity (ASCII only, no quoted local parts, no IP literals):
 * local@domain; the local part 1..64 bytes of RFC 5322 atext and dots (no
 * leading, trailing or double dot); the domain at least two dot-separated
 * labels of letters, digits and inner hyphens, 1..63 bytes each, the last
 * not all digits; at most 254 bytes in all.
 * Returns OK, ERR_EMPTY, ERR_TOO_LONG or ERR_SYNTAX. */
int validate_email(const char *s, size_t len);

/* mTLS certificate identity: 1..256 bytes of printable ASCII (0x21..0x7E).
 * Returns OK, ERR_EMPTY, ERR_TOO_LONG or ERR_SYNTAX. */
int validate_cert_identity(const char *s, size_t len);

/* ---- Resource names ---- */

/* Flag for validate_name_parse: accept "-" in place of an id (AIP-159
 * "every parent"), captured as "-". */
#define VALIDATE_NAME_WILDCARD 0x1u

/* Matches name[0..len) against pattern, whose segments are literals or
 * "{var}" placeholders, e.g. "donors/{donor}/pledges/{pledge}". Each
 * placeholder must match one AIP-122 id; ids are copied, NUL-terminated, to
 * ids[0], ids[1], ... in order (ids may be NULL to only check). max_ids must
 * be at least the number of placeholders.
 * Returns OK, ERR_EMPTY, ERR_TOO_LONG (over VALIDATE_NAME_MAX), ERR_SYNTAX
 * (wrong shape or a bad id) or ERR_ARG (bad pattern or too few ids). */
int validate_name_parse(const char *pattern, const char *name, size_t len, unsigned flags,
                        char ids[][VALIDATE_ID_BUF], size_t max_ids);

/* Shorthands for the resource names of the API. Output buffers may be NULL.
 * Same results as validate_name_parse. */
int validate_donor_name(const char *name, size_t len, char donor[VALIDATE_ID_BUF]);
int validate_pledge_name(const char *name, size_t len, char donor[VALIDATE_ID_BUF],
                         char pledge[VALIDATE_ID_BUF]);
int validate_need_name(const char *name, size_t len, char need[VALIDATE_ID_BUF]);
int validate_match_name(const char *name, size_t len, char match[VALIDATE_ID_BUF]);
int validate_principal_name(const char *name, size_t len, char principal[VALIDATE_ID_BUF]);
int validate_exchange_rate_name(const char *name, size_t len, char rate[VALIDATE_ID_BUF]);

/* ---- Dates ---- */

/* A whole proleptic Gregorian date: year 1..9999, month 1..12, day valid for
 * the month (leap years included). Returns OK or ERR_RANGE. */
int validate_date(int32_t year, int32_t month, int32_t day);

/* ---- Money ----
 * Amounts travel as google.type.Money (currency_code, units, nanos) and are
 * computed on as int64 "total nanos" (units * 10^9 + nanos). One amount is
 * limited to VALIDATE_MONEY_MAX_UNITS; sums are checked for overflow, so a
 * total of up to about 9.2 * 10^9 units can be represented. */
#define VALIDATE_NANOS_PER_UNIT 1000000000
#define VALIDATE_MONEY_MAX_UNITS 1000000000LL
#define VALIDATE_MONEY_FORMAT_MAX 48 /* buffer for validate_money_format */

/* Flags for validate_money. */
#define VALIDATE_MONEY_POSITIVE 0x1u    /* must be > 0 */
#define VALIDATE_MONEY_NONNEGATIVE 0x2u /* must be >= 0 */
#define VALIDATE_MONEY_ANY_CURRENCY 0x4u /* any currency of currency.h, not only
                                            the accounting currency */

/* Checks one amount: currency_code (may be NULL, meaning empty) equals the
 * accounting currency (ERR_CURRENCY otherwise, including empty) unless
 * VALIDATE_MONEY_ANY_CURRENCY, and is an ISO 4217 currency of currency.h
 * (ERR_UNKNOWN); nanos in range (ERR_NANOS); nanos and units of the same
 * sign (ERR_SIGN); magnitude at most VALIDATE_MONEY_MAX_UNITS (ERR_RANGE);
 * no more decimals than the currency's minor units (ERR_PRECISION: EUR
 * 0.001, JPY 1.5); and the sign the flags ask for (ERR_NOT_POSITIVE,
 * ERR_NEGATIVE). If total_nanos is not NULL and the amount is valid,
 * stores it there. */
int validate_money(const char *currency_code, int64_t units, int32_t nanos,
                   const char *accounting_currency, unsigned flags, int64_t *total_nanos);

/* ---- Exchange rates ----
 * A rate is a plain decimal string, units of a currency per one unit of the
 * accounting currency: 1 to 10 integer digits (no leading zero but "0"
 * itself), then optionally a point and 1 to 9 digits; no sign, exponent,
 * space or separator. Held exactly as int64 nanos (rate * 10^9). */
#define VALIDATE_RATE_MAX_UNITS 1000000000LL /* the largest rate */
#define VALIDATE_RATE_MAX_LEN 20             /* 10 digits, a point, 9 digits */

/* Parses s[0..len) into *rate_nanos. Returns OK, ERR_EMPTY, ERR_SYNTAX (not
 * such a decimal, or more than 9 decimals), ERR_NOT_POSITIVE (zero, or a
 * minus sign) or ERR_RANGE (above VALIDATE_RATE_MAX_UNITS). */
int validate_rate(const char *s, size_t len, int64_t *rate_nanos);

/* units/nanos -> total nanos. Returns OK, ERR_NANOS, ERR_SIGN or
 * ERR_OVERFLOW (|units| too large for int64 nanos). */
int validate_money_to_nanos(int64_t units, int32_t nanos, int64_t *total_nanos);

/* total nanos -> units/nanos with matching signs. Cannot fail. */
void validate_money_from_nanos(int64_t total_nanos, int64_t *units, int32_t *nanos);

/* *out = a + b, or a - b. Returns OK or ERR_OVERFLOW (then *out unchanged). */
int validate_money_add(int64_t a, int64_t b, int64_t *out);
int validate_money_sub(int64_t a, int64_t b, int64_t *out);

/* Formats an amount for messages as "<currency> <amount>" with the
 * currency's minor unit of decimals (2 without a currency or for a code not
 * in currency.h) and more only when needed, e.g. "EUR 1250000.00",
 * "EUR -0.05", "EUR 0.000000001", "JPY 1200", "KWD 5.250". currency may be
 * NULL (then only the number). Writes a NUL-terminated string into buf;
 * VALIDATE_MONEY_FORMAT_MAX always suffices. Returns OK or ERR_NOSPACE (buf then holds ""). */
int validate_money_format(int64_t total_nanos, const char *currency, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
