/* validate.c — request checks shared by every handler (see validate.h):
 * UTF-8 and control characters, ids and names, ISO codes, money. */
#include "tallinn/currency.h"
#include "tallinn/textsafe.h"
#include "tallinn/validate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *validate_strerror(int code)
{
    switch (code) {
    case VALIDATE_OK: return "ok";
    case VALIDATE_ERR_EMPTY: return "is required";
    case VALIDATE_ERR_TOO_LONG: return "is too long";
    case VALIDATE_ERR_UTF8: return "is not valid UTF-8";
    case VALIDATE_ERR_CONTROL: return "contains a control character";
    case VALIDATE_ERR_SYNTAX: return "is malformed";
    case VALIDATE_ERR_UNKNOWN: return "is not an assigned code";
    case VALIDATE_ERR_CURRENCY: return "is not in the accounting currency";
    case VALIDATE_ERR_PRECISION: return "has more decimals than its currency has";
    case VALIDATE_ERR_NANOS: return "has nanos outside -999999999..999999999";
    case VALIDATE_ERR_SIGN: return "has units and nanos of opposite signs";
    case VALIDATE_ERR_RANGE: return "is out of range";
    case VALIDATE_ERR_NOT_POSITIVE: return "must be greater than zero";
    case VALIDATE_ERR_NEGATIVE: return "must not be negative";
    case VALIDATE_ERR_OVERFLOW: return "is too large to compute with";
    case VALIDATE_ERR_NOSPACE: return "does not fit the output buffer";
    case VALIDATE_ERR_ARG: return "invalid argument";
    }
    return "unknown error";
}

/* ---- UTF-8 ---- */

/* The decoder is textsafe's (lib/textsafe.c): one for the whole project. */
int validate_utf8(const char *s, size_t len, size_t *bad_offset)
{
    size_t i = 0;

    if (s == NULL && len > 0)
        return VALIDATE_ERR_ARG;
    while (i < len) {
        uint32_t cp;
        size_t n = textsafe_utf8_next(s, len, i, &cp);
        if (n == 0) {
            if (bad_offset != NULL)
                *bad_offset = i;
            return VALIDATE_ERR_UTF8;
        }
        i += n;
    }
    return VALIDATE_OK;
}

static bool is_forbidden_char(uint32_t cp, bool multiline)
{
    if (cp < 0x20)
        return !(multiline && (cp == '\t' || cp == '\n' || cp == '\r'));
    if (cp >= 0x7F && cp <= 0x9F)
        return true;
    if (cp == 0x2028 || cp == 0x2029)
        return !multiline;
    if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
        return true;
    return false;
}

int validate_text(const char *s, size_t len, size_t max_chars, unsigned flags,
                  size_t *bad_offset)
{
    bool multiline = (flags & VALIDATE_TEXT_MULTILINE) != 0;
    size_t i = 0, chars = 0;

    if (s == NULL && len > 0)
        return VALIDATE_ERR_ARG;
    if (len == 0)
        return (flags & VALIDATE_TEXT_REQUIRED) ? VALIDATE_ERR_EMPTY : VALIDATE_OK;
    while (i < len) {
        uint32_t cp;
        size_t n = textsafe_utf8_next(s, len, i, &cp);
        int rc = VALIDATE_OK;

        if (n == 0)
            rc = VALIDATE_ERR_UTF8;
        else if (is_forbidden_char(cp, multiline))
            rc = VALIDATE_ERR_CONTROL;
        else if (++chars > max_chars)
            rc = VALIDATE_ERR_TOO_LONG;
        if (rc != VALIDATE_OK) {
            if (bad_offset != NULL)
                *bad_offset = i;
            return rc;
        }
        i += n;
    }
    return VALIDATE_OK;
}

/* ---- Identifiers ---- */

static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return is_lower(c) || is_upper(c); }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int validate_resource_id(const char *s, size_t len)
{
    if (len == 0)
        return VALIDATE_ERR_EMPTY;
    if (s == NULL)
        return VALIDATE_ERR_ARG;
    if (len > VALIDATE_ID_MAX)
        return VALIDATE_ERR_TOO_LONG;
    if (!is_lower(s[0]))
        return VALIDATE_ERR_SYNTAX;
    for (size_t i = 1; i < len; i++) {
        if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '-')
            return VALIDATE_ERR_SYNTAX;
    }
    if (s[len - 1] == '-')
        return VALIDATE_ERR_SYNTAX;
    return VALIDATE_OK;
}

int validate_uuid(const char *s, size_t len, char *canon)
{
    bool nonzero = false;

    if (len == 0)
        return VALIDATE_ERR_EMPTY;
    if (s == NULL)
        return VALIDATE_ERR_ARG;
    if (len != VALIDATE_UUID_LEN)
        return VALIDATE_ERR_SYNTAX;
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return VALIDATE_ERR_SYNTAX;
        } else {
            if (!is_hex(s[i]))
                return VALIDATE_ERR_SYNTAX;
            if (s[i] != '0')
                nonzero = true;
        }
    }
    if (!nonzero)
        return VALIDATE_ERR_SYNTAX;
    if (canon != NULL) {
        for (size_t i = 0; i < len; i++)
            canon[i] = is_upper(s[i]) ? (char)(s[i] - 'A' + 'a') : s[i];
        canon[len] = '\0';
    }
    return VALIDATE_OK;
}

/* The 249 officially assigned ISO 3166-1 alpha-2 codes, sorted, as pairs of
 * letters. Source: ISO 3166 Maintenance Agency, as shipped in Debian's
 * iso-codes and tzdata (iso3166.tab), which the unit test cross-checks. */
static const char country_codes[] =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZ"
    "BABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
    "CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZ"
    "DEDJDKDMDODZ"
    "ECEEEGEHERESET"
    "FIFJFKFMFOFR"
    "GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY"
    "HKHMHNHRHTHU"
    "IDIEILIMINIOIQIRISIT"
    "JEJMJOJP"
    "KEKGKHKIKMKNKPKRKWKYKZ"
    "LALBLCLILKLRLSLTLULVLY"
    "MAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ"
    "NANCNENFNGNINLNONPNRNUNZ"
    "OM"
    "PAPEPFPGPHPKPLPMPNPRPSPTPWPY"
    "QA"
    "RERORSRURW"
    "SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ"
    "TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZ"
    "UAUGUMUSUYUZ"
    "VAVCVEVGVIVNVU"
    "WFWS"
    "YEYT"
    "ZAZMZW";

_Static_assert(sizeof(country_codes) - 1 == 2 * 249, "ISO 3166-1 has 249 assigned codes");

int validate_country_code(const char *s, size_t len)
{
    size_t lo = 0, hi = (sizeof(country_codes) - 1) / 2;

    if (len == 0)
        return VALIDATE_ERR_EMPTY;
    if (s == NULL)
        return VALIDATE_ERR_ARG;
    if (len != 2 || !is_upper(s[0]) || !is_upper(s[1]))
        return VALIDATE_ERR_SYNTAX;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s, country_codes + 2 * mid, 2);
        if (c == 0)
            return VALIDATE_OK;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return VALIDATE_ERR_UNKNOWN;
}

int validate_currency_code(const char *s, size_t len)
{
    if (len == 0)
        return VALIDATE_ERR_EMPTY;
    if (s == NULL)
        return VALIDATE_ERR_ARG;
    if (len != 3 || !is_upper(s[0]) || !is_upper(s[1]) || !is_upper(s[2]))
        return VALIDATE_ERR_SYNTAX;
    return VALIDATE_OK;
}

/* RFC 5322 atext. */
static bool is_atext(char c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int validate_email(const char *s, size_t len)
{
    size_t at = len, label_start, i;
    bool label_all_digits = true;

    if (len == 0)
        return VALIDATE_ERR_EMPTY;
    if (s == NULL)
        return VALIDATE_ERR_ARG;
    if (len > VALIDATE_EMAIL_MAX)
        return VALIDATE_ERR_TOO_LONG;
    for (i = 0; i < len; i++) {
        if (s[i] == '@') {
            if (at != len)
                return VALIDATE_ERR_SYNTAX; /* two '@' */
            at = i;
        }
    }
    if (at == len || at == 0 || at > VALIDATE_EMAIL_LOCAL_MAX || at == len - 1)
        return VALIDATE_ERR_SYNTAX;
    /* Local part: dot-atom. */
    if (s[0] == '.' || s[at - 1] == '.')
        return VALIDATE_ERR_SYNTAX;
    for (i = 0; i < at; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return VALIDATE_ERR_SYNTAX;
        } else if (!is_atext(s[i])) {
            return VALIDATE_ERR_SYNTAX;
        }
    }
    /* Domain: labels separated by dots, at least two. */
    label_start = at + 1;
    size_t labels = 0;
    for (i = at + 1; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t n = i - label_start;
            if (n == 0 || n > 63 || s[label_start] == '-' || s[i - 1] == '-')
                return VALIDATE_ERR_SYNTAX;
            labels++;
            if (i == len)
                break;
            label_start = i + 1;
            label_all_digits = true;
        } else if (is_alpha(s[i]) || s[i] == '-') {
            label_all_digits = false;
        } else if (!is_digit(s[i])) {
            return VALIDATE_ERR_SYNTAX;
        }
    }
    if (labels < 2 || label_all_digits)
        return VALIDATE_ERR_SYNTAX;
    return VALIDATE_OK;
}

int validate_cert_identity(const char *s, size_t len)
{
    if (len == 0)
        return VALIDATE_ERR_EMPTY;
    if (s == NULL)
        return VALIDATE_ERR_ARG;
    if (len > VALIDATE_CERT_IDENTITY_MAX)
        return VALIDATE_ERR_TOO_LONG;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E)
            return VALIDATE_ERR_SYNTAX;
    }
    return VALIDATE_OK;
}

/* ---- Resource names ---- */

int validate_name_parse(const char *pattern, const char *name, size_t len, unsigned flags,
                        char ids[][VALIDATE_ID_BUF], size_t max_ids)
{
    const char *p = pattern;
    size_t i = 0, nids = 0;

    if (pattern == NULL || (name == NULL && len > 0))
        return VALIDATE_ERR_ARG;
    if (len == 0)
        return VALIDATE_ERR_EMPTY;
    if (len > VALIDATE_NAME_MAX)
        return VALIDATE_ERR_TOO_LONG;
    while (*p != '\0') {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t start = i, n;
            int rc;

            if (close == NULL || close == p + 1 || nids >= max_ids)
                return VALIDATE_ERR_ARG;
            while (i < len && name[i] != '/')
                i++;
            n = i - start;
            if (n == 1 && name[start] == '-' && (flags & VALIDATE_NAME_WILDCARD)) {
                rc = VALIDATE_OK;
            } else {
                rc = validate_resource_id(name + start, n);
                if (rc != VALIDATE_OK)
                    return VALIDATE_ERR_SYNTAX;
            }
            if (ids != NULL) {
                memcpy(ids[nids], name + start, n);
                ids[nids][n] = '\0';
            }
            nids++;
            p = close + 1;
        } else {
            if (i >= len || name[i] != *p)
                return VALIDATE_ERR_SYNTAX;
            i++;
            p++;
        }
    }
    return i == len ? VALIDATE_OK : VALIDATE_ERR_SYNTAX;
}

int validate_donor_name(const char *name, size_t len, char donor[VALIDATE_ID_BUF])
{
    char ids[1][VALIDATE_ID_BUF];
    int rc = validate_name_parse("donors/{donor}", name, len, 0, ids, 1);
    if (rc == VALIDATE_OK && donor != NULL)
        memcpy(donor, ids[0], VALIDATE_ID_BUF);
    return rc;
}

int validate_pledge_name(const char *name, size_t len, char donor[VALIDATE_ID_BUF],
                         char pledge[VALIDATE_ID_BUF])
{
    char ids[2][VALIDATE_ID_BUF];
    int rc = validate_name_parse("donors/{donor}/pledges/{pledge}", name, len, 0, ids, 2);
    if (rc == VALIDATE_OK) {
        if (donor != NULL)
            memcpy(donor, ids[0], VALIDATE_ID_BUF);
        if (pledge != NULL)
            memcpy(pledge, ids[1], VALIDATE_ID_BUF);
    }
    return rc;
}

static int parse_single(const char *pattern, const char *name, size_t len, char out[VALIDATE_ID_BUF])
{
    char ids[1][VALIDATE_ID_BUF];
    int rc = validate_name_parse(pattern, name, len, 0, ids, 1);
    if (rc == VALIDATE_OK && out != NULL)
        memcpy(out, ids[0], VALIDATE_ID_BUF);
    return rc;
}

int validate_need_name(const char *name, size_t len, char need[VALIDATE_ID_BUF])
{
    return parse_single("needs/{need}", name, len, need);
}

int validate_match_name(const char *name, size_t len, char match[VALIDATE_ID_BUF])
{
    return parse_single("matches/{match}", name, len, match);
}

int validate_principal_name(const char *name, size_t len, char principal[VALIDATE_ID_BUF])
{
    return parse_single("principals/{principal}", name, len, principal);
}

int validate_exchange_rate_name(const char *name, size_t len, char rate[VALIDATE_ID_BUF])
{
    return parse_single("exchangeRates/{exchange_rate}", name, len, rate);
}

/* ---- Dates ---- */

int validate_date(int32_t year, int32_t month, int32_t day)
{
    static const int8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int32_t max;

    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1)
        return VALIDATE_ERR_RANGE;
    max = days[month - 1];
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
        max = 29;
    return day <= max ? VALIDATE_OK : VALIDATE_ERR_RANGE;
}

/* ---- Money ---- */

int validate_money_to_nanos(int64_t units, int32_t nanos, int64_t *total_nanos)
{
    int64_t t;

    if (nanos <= -VALIDATE_NANOS_PER_UNIT || nanos >= VALIDATE_NANOS_PER_UNIT)
        return VALIDATE_ERR_NANOS;
    if ((units > 0 && nanos < 0) || (units < 0 && nanos > 0))
        return VALIDATE_ERR_SIGN;
    if (__builtin_mul_overflow(units, (int64_t)VALIDATE_NANOS_PER_UNIT, &t) ||
        __builtin_add_overflow(t, (int64_t)nanos, &t))
        return VALIDATE_ERR_OVERFLOW;
    if (total_nanos != NULL)
        *total_nanos = t;
    return VALIDATE_OK;
}

void validate_money_from_nanos(int64_t total_nanos, int64_t *units, int32_t *nanos)
{
    /* C division truncates toward zero, so both parts share the sign. */
    if (units != NULL)
        *units = total_nanos / VALIDATE_NANOS_PER_UNIT;
    if (nanos != NULL)
        *nanos = (int32_t)(total_nanos % VALIDATE_NANOS_PER_UNIT);
}

int validate_money(const char *currency_code, int64_t units, int32_t nanos,
                   const char *accounting_currency, unsigned flags, int64_t *total_nanos)
{
    const int64_t max = VALIDATE_MONEY_MAX_UNITS * VALIDATE_NANOS_PER_UNIT;
    int64_t t;
    int rc;

    int minor;

    if (accounting_currency == NULL)
        return VALIDATE_ERR_ARG;
    if (!(flags & VALIDATE_MONEY_ANY_CURRENCY) &&
        (currency_code == NULL || strcmp(currency_code, accounting_currency) != 0))
        return VALIDATE_ERR_CURRENCY;
    if (currency_code == NULL ||
        (minor = currency_minor_units(currency_code, strlen(currency_code))) < 0)
        return VALIDATE_ERR_UNKNOWN;
    if (units > VALIDATE_MONEY_MAX_UNITS || units < -VALIDATE_MONEY_MAX_UNITS) {
        /* Report malformed nanos first; the range error otherwise. */
        if (nanos <= -VALIDATE_NANOS_PER_UNIT || nanos >= VALIDATE_NANOS_PER_UNIT)
            return VALIDATE_ERR_NANOS;
        if ((units > 0 && nanos < 0) || (units < 0 && nanos > 0))
            return VALIDATE_ERR_SIGN;
        return VALIDATE_ERR_RANGE;
    }
    rc = validate_money_to_nanos(units, nanos, &t);
    if (rc != VALIDATE_OK)
        return rc;
    if (t > max || t < -max)
        return VALIDATE_ERR_RANGE;
    {
        int32_t step = 1; /* nanos in one minor unit: 10^(9 - minor) */
        for (int i = minor; i < 9; i++)
            step *= 10;
        if (nanos % step != 0)
            return VALIDATE_ERR_PRECISION;
    }
    if ((flags & VALIDATE_MONEY_POSITIVE) && t <= 0)
        return VALIDATE_ERR_NOT_POSITIVE;
    if ((flags & VALIDATE_MONEY_NONNEGATIVE) && t < 0)
        return VALIDATE_ERR_NEGATIVE;
    if (total_nanos != NULL)
        *total_nanos = t;
    return VALIDATE_OK;
}

int validate_rate(const char *s, size_t len, int64_t *rate_nanos)
{
    int64_t whole = 0, frac = 0;
    size_t i = 0, nint = 0, nfrac = 0;

    if (s == NULL || len == 0)
        return s == NULL && len != 0 ? VALIDATE_ERR_ARG : VALIDATE_ERR_EMPTY;
    if (s[0] == '-')
        return len > 1 && is_digit(s[1]) ? VALIDATE_ERR_NOT_POSITIVE : VALIDATE_ERR_SYNTAX;
    if (len > VALIDATE_RATE_MAX_LEN)
        return VALIDATE_ERR_SYNTAX;
    for (; i < len && is_digit(s[i]); i++, nint++)
        whole = whole * 10 + (s[i] - '0'); /* at most 20 characters: no overflow past 10^10 */
    if (nint == 0 || nint > 10 || (nint > 1 && s[0] == '0'))
        return VALIDATE_ERR_SYNTAX;
    if (i < len) {
        if (s[i++] != '.')
            return VALIDATE_ERR_SYNTAX;
        for (; i < len && is_digit(s[i]); i++, nfrac++)
            if (nfrac < 9)
                frac = frac * 10 + (s[i] - '0');
        if (nfrac == 0 || nfrac > 9 || i != len)
            return VALIDATE_ERR_SYNTAX;
    }
    for (size_t k = nfrac; k < 9; k++)
        frac *= 10;
    if (whole > VALIDATE_RATE_MAX_UNITS || (whole == VALIDATE_RATE_MAX_UNITS && frac > 0))
        return VALIDATE_ERR_RANGE;
    if (whole == 0 && frac == 0)
        return VALIDATE_ERR_NOT_POSITIVE;
    if (rate_nanos != NULL)
        *rate_nanos = whole * VALIDATE_NANOS_PER_UNIT + frac;
    return VALIDATE_OK;
}

int validate_money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (out == NULL)
        return VALIDATE_ERR_ARG;
    if (__builtin_add_overflow(a, b, &r))
        return VALIDATE_ERR_OVERFLOW;
    *out = r;
    return VALIDATE_OK;
}

int validate_money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (out == NULL)
        return VALIDATE_ERR_ARG;
    if (__builtin_sub_overflow(a, b, &r))
        return VALIDATE_ERR_OVERFLOW;
    *out = r;
    return VALIDATE_OK;
}

int validate_money_format(int64_t total_nanos, const char *currency, char *buf, size_t cap)
{
    /* Magnitude as unsigned so that INT64_MIN formats too. */
    uint64_t mag = total_nanos < 0 ? (uint64_t)0 - (uint64_t)total_nanos : (uint64_t)total_nanos;
    uint64_t whole = mag / VALIDATE_NANOS_PER_UNIT;
    unsigned frac = (unsigned)(mag % VALIDATE_NANOS_PER_UNIT);
    char digits[10];
    int ndig = 9, n;
    /* the currency's minor unit of decimals (JPY none, KWD three), 2 for
     * none or a code the table lacks; more only when the amount has them */
    int minor = currency != NULL ? currency_minor_units(currency, strlen(currency)) : -1;

    if (buf == NULL || cap == 0)
        return VALIDATE_ERR_ARG;
    if (minor < 0)
        minor = 2;
    snprintf(digits, sizeof digits, "%09u", frac);
    while (ndig > minor && digits[ndig - 1] == '0')
        ndig--;
    digits[ndig] = '\0';
    n = snprintf(buf, cap, "%s%s%s%llu%s%s", currency != NULL ? currency : "",
                 currency != NULL ? " " : "", total_nanos < 0 ? "-" : "",
                 (unsigned long long)whole, ndig > 0 ? "." : "", digits);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return VALIDATE_ERR_NOSPACE;
    }
    return VALIDATE_OK;
}
