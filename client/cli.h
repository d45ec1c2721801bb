/* cli.h — what tallinnctl and tallinn-audit share that needs no server: the
 * exit statuses both use, text for terminals (display width, cutting, CSV),
 * "did you mean", amounts of money as people type them, and the config file
 * of named contexts (read, and edited in place). Pure functions apart from
 * the config file's reading and writing; unit-tested in tests/unit/test_cli*.c. */
#ifndef TALLINN_CLI_H
#define TALLINN_CLI_H

#include <grpc/status.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Exit statuses: one meaning per number in both tools ----
 * docs/tallinnctl.md and docs/audit.md list them; each tool uses a subset. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,     /* tallinnctl: any other error; tallinn-audit: did not verify */
    CLI_EXIT_USAGE = 2,       /* bad command line, bad config file (both) */
    CLI_EXIT_UNREACHABLE = 3, /* could not reach the server: UNAVAILABLE, DEADLINE_EXCEEDED,
                                 connection or TLS failure (both) */
    CLI_EXIT_NOT_FOUND = 4,   /* NOT_FOUND (both) */
    CLI_EXIT_DENIED = 5,      /* PERMISSION_DENIED, UNAUTHENTICATED (both) */
    CLI_EXIT_INVALID = 6,     /* INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE (both) */
    CLI_EXIT_CONFLICT = 7,    /* ALREADY_EXISTS, ABORTED (tallinnctl) */
    CLI_EXIT_SECURITY = 8,    /* SECURITY ERROR: the log forked or shrank (tallinn-audit) */
    CLI_EXIT_UNCHECKED = 9,   /* tallinn-audit: another error stopped the check before it
                                 could conclude (the server failed the call, a local file
                                 could not be written) */
};

/* The exit status for a gRPC status code (3..7 as above); `other` for a code
 * none of them covers (UNIMPLEMENTED, INTERNAL, ...). */
int cli_exit_for_status(grpc_status_code code, int other);

/* ---- Text for terminals ---- */

/* Columns s takes on a terminal: UTF-8 decoded with the C.UTF-8 locale's
 * wcwidth (East Asian wide characters 2, combining marks 0); an invalid byte
 * or a character wcwidth does not know counts 1. */
int cli_width(const char *s);
/* Cuts s (a NUL-terminated string in a buffer of cap bytes) to at most max
 * columns, ending in "…" when cut; max <= 0 leaves it whole. */
void cli_cut(char *s, size_t cap, int max);
/* An RFC 4180 CSV writer (CRLF line ends, fields quoted when they hold a
 * comma, a quote, CR or LF, quotes doubled), with an optional defence
 * against formula injection for spreadsheet users (client/cli_csv.c). */
typedef struct cli_csv {
    FILE *out;
    int guard;   /* prefix text cells that start a formula (see cli_csv_cell) */
    int ncells;  /* cells written in the current row */
    int error;   /* a write failed (ferror) */
} cli_csv;

/* A writer on out (not owned). guard: 1 to defend text cells against
 * formula injection. */
void cli_csv_init(cli_csv *w, FILE *out, int guard);

/* Writes one cell of the current row. s may be NULL (an empty cell). text:
 * the value is free text someone typed (a title, a reason), so when guard
 * is on and it starts with '=', '+', '-', '@', TAB or CR — what spreadsheets
 * take for a formula — it is written with a leading apostrophe ("'=1+1"),
 * which spreadsheets show as text. Values the tool formats itself (amounts,
 * enums, times, names) are never changed. */
void cli_csv_cell(cli_csv *w, const char *s, int text);

/* Ends the current row with CRLF. Returns 0, or -1 when any write so far
 * failed. */
int cli_csv_end_row(cli_csv *w);

/* ---- Did you mean ---- */

/* The optimal string alignment distance (Levenshtein with adjacent
 * transpositions), ASCII case folded. Strings longer than 64 bytes compare
 * as far apart. */
size_t cli_edit_distance(const char *a, const char *b);
/* The candidate closest to word when it is close enough to be a typo of it
 * (at most 1 edit for up to 4 characters, 2 up to 8, else 3), or NULL.
 * candidates may hold NULLs and duplicates. */
const char *cli_suggest(const char *word, const char *const *candidates, size_t n);

/* ---- Money as people type it ---- */

#define CLI_CURRENCY_UNKNOWN (-1) /* not a current ISO 4217 code with a minor unit */

/* The ISO 4217 minor unit (decimal places) of an upper-case alphabetic code:
 * 2 for EUR, 0 for JPY, 3 for KWD (the server's table, tallinn/currency.h);
 * CLI_CURRENCY_UNKNOWN for a code it lacks (withdrawn, gold, SDR, XXX). */
int cli_currency_exponent(const char *code);

/* Reads an amount: "EUR 120,000.50", "120000.5 EUR", "eur 120000" or
 * "120000" (in default_currency). The integer part is plain digits or
 * groups of three separated by commas; "." starts at most as many decimals
 * as the currency's minor unit has. Anything else ("1,0000", "0.001" in EUR,
 * "1.000,50", "-5") is refused with err saying what was expected. Fills
 * currency (3 letters and NUL), units and nanos; 0 or -1. */
int cli_money_parse(const char *s, const char *default_currency, char currency[4],
                    int64_t *units, int32_t *nanos, char *err, size_t err_len);

/* Writes an amount as an exact decimal: "1234.50" (EUR), "1000" (JPY),
 * "1.250" (KWD) — the currency's minor units, and any further non-zero digit
 * the amount has (never rounded); unknown_minor decimals for a code the
 * table lacks. CLI_MONEY_GROUP: thousands separators ("1,234.50"). Integer
 * arithmetic only. Returns 0, or -1 with buf "" for a Money the server never
 * sends (nanos out of range, signs of units and nanos disagreeing): never a
 * wrong number. Fits CLI_MONEY_DECIMAL_MAX (sign, 19 digits, 6 commas,
 * point, 9 decimals, NUL). */
#define CLI_MONEY_GROUP 1u
#define CLI_MONEY_DECIMAL_MAX 40
int cli_money_decimal(const char *currency, int64_t units, int32_t nanos, unsigned flags,
                      int unknown_minor, char *buf, size_t len);

/* ---- The config file: named contexts ----
 * INI (inih): `context = NAME` before any section names the default; each
 * [NAME] section holds the settings below, which mean what the tools'
 * options of the same names mean. */
typedef enum cli_cfg_key {
    CLI_CFG_ADDR = 0,
    CLI_CFG_INSECURE,
    CLI_CFG_TOKEN_FILE,
    CLI_CFG_TOKEN,
    CLI_CFG_CA,
    CLI_CFG_CERT,
    CLI_CFG_KEY,
    CLI_CFG_SERVER_NAME,
    CLI_CFG_DEADLINE,
    CLI_CFG_NKEYS
} cli_cfg_key;

/* "addr", "insecure", "token-file", ... by cli_cfg_key. */
extern const char *const cli_cfg_key_names[CLI_CFG_NKEYS];
#define CLI_CFG_MAX_CONTEXTS 64
/* The longest line inih reads whole (its INI_MAX_LINE, less the newline). */
#define CLI_CFG_MAX_LINE 198

typedef struct cli_cfg_context {
    char *name;
    char *values[CLI_CFG_NKEYS]; /* NULL: not set */
} cli_cfg_context;

typedef struct cli_cfg {
    char *path;            /* the file read */
    char *default_context; /* `context =`, or NULL */
    cli_cfg_context contexts[CLI_CFG_MAX_CONTEXTS];
    size_t n;
} cli_cfg;

/* $TALLINN_CONFIG, else $XDG_CONFIG_HOME/tallinn/config (default
 * ~/.config/tallinn/config). Caller frees; NULL when none can be formed. */
char *cli_cfg_path(void);
/* Parses the file at path. 0; -ENOENT when there is none; another negative
 * errno with err saying why ("FILE, line N: unknown setting ..."). Token
 * values are wiped by cli_cfg_free. */
int cli_cfg_read(const char *path, cli_cfg *out, char *err, size_t err_len);
/* The same over text held in memory (path names it in messages). */
int cli_cfg_parse(const char *path, const char *text, cli_cfg *out, char *err, size_t err_len);
void cli_cfg_free(cli_cfg *c);
const cli_cfg_context *cli_cfg_find(const cli_cfg *c, const char *name);
/* "true", "yes", "on", "1". */
int cli_cfg_true(const char *value);
/* A token-file, ca, cert or key value made absolute: relative paths are
 * relative to the config file's directory. Caller frees. */
char *cli_cfg_abs_path(const char *cfg_path, const char *value);
/* Whether a context name is usable: [A-Za-z0-9._@-], 1 to 63 bytes. */
int cli_cfg_valid_name(const char *name);

/* Editing keeps every other line (comments, other sections) as it was. */

/* text with `context = name` before the first section (replaced when
 * present). *out is malloc'd. 0 or -1 with err. */
int cli_cfg_edit_default(const char *text, const char *name, char **out, char *err,
                         size_t err_len);
/* text with section `name` holding set[k] for every k where set[k] is not
 * NULL (replaced in place, or added at the end of the section), without the
 * keys whose bit (1u << k) is in unset; the section is added at the end when
 * missing. Values are checked: one line, no surrounding space, nothing inih
 * would read as a comment. *out is malloc'd. 0 or -1 with err. */
int cli_cfg_edit_set(const char *text, const char *name, const char *const set[CLI_CFG_NKEYS],
                     unsigned unset, char **out, char *err, size_t err_len);
/* Replaces the file at path (its target, when a symlink) atomically: its
 * directory is created (0700) when missing, a temporary file (0600) in it is
 * written and synced, renamed over the file, and the directory synced.
 * 0 or a negative errno with err. */
int cli_cfg_write(const char *path, const char *text, char *err, size_t err_len);

#endif
