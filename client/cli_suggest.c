/* cli_suggest.c — "did you mean": the edit distance between what was typed
 * and what exists, and the closest candidate when it is close enough to be
 * a typo. Written here: a few lines no library of ours offers. */
#include <ctype.h>
#include <string.h>

#include "cli.h"

#define CLI_SUGGEST_MAX_LEN 64

size_t cli_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    /* row i lives in rows[i % 3]: the current one, the last, and the one
     * before it (for transpositions) */
    size_t rows[3][CLI_SUGGEST_MAX_LEN + 1];

    if (la > CLI_SUGGEST_MAX_LEN || lb > CLI_SUGGEST_MAX_LEN)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        rows[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = rows[i % 3], *prev = rows[(i + 2) % 3], *pp = rows[(i + 1) % 3];
        int ca = tolower((unsigned char)a[i - 1]);

        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            int cb = tolower((unsigned char)b[j - 1]);
            size_t best = prev[j] + 1;

            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (prev[j - 1] + (ca != cb) < best)
                best = prev[j - 1] + (ca != cb);
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
    }
    return rows[la % 3][lb];
}

const char *cli_suggest(const char *word, const char *const *candidates, size_t n)
{
    size_t len = strlen(word), limit = len <= 4 ? 1 : len <= 8 ? 2 : 3, best = (size_t)-1;
    const char *pick = NULL;

    for (size_t i = 0; i < n; i++) {
        size_t d;

        if (candidates[i] == NULL || strcmp(candidates[i], word) == 0)
            continue;
        d = cli_edit_distance(word, candidates[i]);
        /* a distance as long as the shorter word says nothing about a typo */
        if (d <= limit && d < best && d < strlen(candidates[i]) && d < len) {
            best = d;
            pick = candidates[i];
        }
    }
    return pick;
}
