/* cli_csv.c — the tools' RFC 4180 writer (cli.h). Written by hand: the rules
 * are a dozen lines, and the one C library Debian has for CSV (libcsv) is
 * a parser whose writer quotes every field and knows nothing of formulas. */
#include <string.h>

#include "cli.h"

void cli_csv_init(cli_csv *w, FILE *out, int guard)
{
    w->out = out;
    w->guard = guard;
    w->ncells = 0;
    w->error = 0;
}

/* A cell a spreadsheet would evaluate: OWASP's list of formula starters. */
static int cli_csv_formula(const char *s)
{
    return s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
}

void cli_csv_cell(cli_csv *w, const char *s, int text)
{
    int prefix, quote;

    if (s == NULL)
        s = "";
    prefix = text && w->guard && cli_csv_formula(s);
    quote = strpbrk(s, ",\"\r\n") != NULL;
    if (w->ncells++ > 0 && fputc(',', w->out) == EOF)
        w->error = 1;
    if (quote && fputc('"', w->out) == EOF)
        w->error = 1;
    if (prefix && fputc('\'', w->out) == EOF)
        w->error = 1;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' && fputc('"', w->out) == EOF)
            w->error = 1;
        if (fputc(*p, w->out) == EOF)
            w->error = 1;
    }
    if (quote && fputc('"', w->out) == EOF)
        w->error = 1;
}

int cli_csv_end_row(cli_csv *w)
{
    if (fputs("\r\n", w->out) == EOF)
        w->error = 1;
    w->ncells = 0;
    return w->error ? -1 : 0;
}
