/* textfold.h — the caseless form of text that search compares (the filter's
 * ":" operator): Unicode's NFKC_Casefold mapping, computed by ICU. The same
 * function folds what the store keeps in its folded columns at write time
 * (store_kinds.c), the filter's search text (filter.c) and a row's text in
 * filter_eval, so SQLite, PostgreSQL and the evaluator agree by
 * construction. Design and examples: docs/api-conventions.md ("Search"). */
#ifndef TALLINN_TEXTFOLD_H
#define TALLINN_TEXTFOLD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TEXTFOLD_OK = 0,
    TEXTFOLD_ERR_NOMEM = -1,
    TEXTFOLD_ERR_TOO_LONG = -2, /* more than TEXTFOLD_MAX_INPUT bytes */
    TEXTFOLD_ERR_ICU = -3       /* ICU refused (its data missing): a bug */
};

/* The longest text folded, in bytes: far above every text field the API
 * takes (10,000 code points), far below ICU's int32_t lengths. */
#define TEXTFOLD_MAX_INPUT (1u << 20)

/* Folds s[0..len): UTF-8 in, UTF-8 out. toNFKC_Casefold (Unicode Standard
 * section 3.13 and UAX #44's NFKC_Casefold property): full case folding
 * ("ОДЕСА" and "Одеса" -> "одеса", "STRASSE" and "Straße" -> "strasse",
 * "ΣΟΦΊΑ" -> "σοφία"), compatibility forms made plain ("ﬁ" -> "fi",
 * full-width "Ｋ" -> "k"), default-ignorable characters removed (soft hyphen,
 * zero-width joiner), and the result in NFC, so that composed and
 * decomposed input ("й" as U+0439 or U+0438 U+0306) fold alike. Folding a
 * folded text changes nothing. A byte sequence that is not UTF-8 becomes
 * U+FFFD, so the output is always valid UTF-8. On success *out is a new
 * NUL-terminated string (free it) of *out_len bytes. */
int textfold(const char *s, size_t len, char **out, size_t *out_len);

/* Whether folded needle[0..nlen) occurs in folded hay[0..hlen), as bytes
 * (both folded UTF-8: a match starts on a character). An empty needle
 * occurs everywhere. */
int textfold_contains(const char *hay, size_t hlen, const char *needle, size_t nlen);

#ifdef __cplusplus
}
#endif

#endif
