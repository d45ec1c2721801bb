/* textfold.c — the caseless form search compares (textfold.h): Unicode's
 * NFKC_Casefold through ICU's normalizer, which carries the Unicode
 * Character Database's tables (we keep no case table of our own). */
#include "tallinn/textfold.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

int textfold(const char *s, size_t len, char **out, size_t *out_len)
{
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *nfkc_cf = unorm2_getNFKCCasefoldInstance(&e);
    UChar *u = NULL, *f = NULL;
    char *o = NULL;
    int32_t ulen = 0, flen = 0, olen = 0;
    int rc = TEXTFOLD_ERR_ICU;

    *out = NULL;
    *out_len = 0;
    if (U_FAILURE(e))
        return TEXTFOLD_ERR_ICU;
    if (len > TEXTFOLD_MAX_INPUT)
        return TEXTFOLD_ERR_TOO_LONG;
    /* UTF-8 to UTF-16 (never more units than bytes); anything that is not
     * UTF-8 becomes U+FFFD, so the folded text is always valid. */
    if ((u = malloc((len + 1) * sizeof(*u))) == NULL)
        return TEXTFOLD_ERR_NOMEM;
    u_strFromUTF8WithSub(u, (int32_t)len + 1, &ulen, len > 0 ? s : "", (int32_t)len, 0xFFFD,
                         NULL, &e);
    if (U_FAILURE(e))
        goto done;
    /* The fold may grow the text (a ligature or "ß" becomes two letters):
     * ask how long first. */
    flen = unorm2_normalize(nfkc_cf, u, ulen, NULL, 0, &e);
    if (e != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(e))
        goto done;
    e = U_ZERO_ERROR;
    if ((f = malloc(((size_t)flen + 1) * sizeof(*f))) == NULL) {
        rc = TEXTFOLD_ERR_NOMEM;
        goto done;
    }
    unorm2_normalize(nfkc_cf, u, ulen, f, flen + 1, &e);
    if (U_FAILURE(e))
        goto done;
    /* Each UTF-16 unit is at most 3 bytes of UTF-8 (a pair is 4 for 2). */
    if ((o = malloc((size_t)flen * 3 + 1)) == NULL) {
        rc = TEXTFOLD_ERR_NOMEM;
        goto done;
    }
    u_strToUTF8(o, flen * 3 + 1, &olen, f, flen, &e);
    if (U_FAILURE(e))
        goto done;
    o[olen] = '\0';
    *out = o;
    *out_len = (size_t)olen;
    o = NULL;
    rc = TEXTFOLD_OK;
done:
    free(u);
    free(f);
    free(o);
    return rc;
}

int textfold_contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0)
        return 1;
    return hlen >= nlen && memmem(hay, hlen, needle, nlen) != NULL;
}
