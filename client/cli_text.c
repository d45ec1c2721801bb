/* cli_text.c — text for terminals: the columns a UTF-8
 * string takes (wcwidth under the C.UTF-8 locale, whatever the user's locale
 * is), cutting to a width. */
#include <locale.h>
#include <string.h>
#include <wchar.h>

#include "cli.h"

/* The C.UTF-8 locale, made once; (locale_t)0 when the system has none. */
static locale_t cli_utf8_locale(void)
{
    static locale_t loc;
    static int tried;

    if (!tried) { /* the tools are single-threaded where they print */
        tried = 1;
        loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    }
    return loc;
}

/* Decodes one UTF-8 character of s (n bytes left): its length (1 for an
 * invalid byte) and its columns. */
static size_t cli_char(const char *s, size_t n, int *cols)
{
    mbstate_t st;
    wchar_t wc;
    size_t len;
    int w;

    if ((unsigned char)*s < 0x80) {
        *cols = 1;
        return 1;
    }
    memset(&st, 0, sizeof st);
    len = mbrtowc(&wc, s, n, &st);
    if (len == (size_t)-1 || len == (size_t)-2 || len == 0) {
        *cols = 1;
        return 1;
    }
    w = wcwidth(wc);
    *cols = w < 0 ? 1 : w;
    return len;
}

/* The columns of s, stopping before the character that would take it past
 * max (max < 0: no limit); *cut_at gets the byte offset reached. Decoded
 * under the C.UTF-8 locale (mbrtowc and wcwidth follow the thread's locale);
 * without one, code points are counted: the best a locale-free guess can do. */
static int cli_width_upto(const char *s, int max, size_t *cut_at)
{
    locale_t loc = cli_utf8_locale(), old = (locale_t)0;
    size_t n = strlen(s), i = 0;
    int width = 0;

    if (loc != (locale_t)0)
        old = uselocale(loc);
    while (i < n) {
        int cols;
        size_t len;

        if (loc != (locale_t)0) {
            len = cli_char(s + i, n - i, &cols);
        } else {
            len = 1;
            cols = ((unsigned char)s[i] & 0xc0) == 0x80 ? 0 : 1;
        }
        if (max >= 0 && width + cols > max)
            break;
        width += cols;
        i += len;
    }
    if (loc != (locale_t)0)
        uselocale(old);
    if (cut_at != NULL)
        *cut_at = i;
    return width;
}

int cli_width(const char *s)
{
    return cli_width_upto(s, -1, NULL);
}

void cli_cut(char *s, size_t cap, int max)
{
    static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026, one column */
    size_t at;

    if (max <= 0 || cli_width(s) <= max)
        return;
    cli_width_upto(s, max - 1, &at); /* zero-width marks stay with their letter */
    while (at > 0 && at + sizeof ellipsis > cap)
        at--;
    while (at > 0 && ((unsigned char)s[at] & 0xc0) == 0x80)
        at--;
    memcpy(s + at, ellipsis, sizeof ellipsis);
}
