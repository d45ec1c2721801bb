/* ctl_csv.h — a small RFC 4180 CSV writer (CRLF line ends, fields quoted
 * when they hold a comma, a quote, CR or LF, quotes doubled), with an
 * optional defence against formula injection for spreadsheet users. Kept
 * apart from the export commands so that other commands (-o csv) can share
 * it. */
#ifndef TALLINN_CTL_CSV_H
#define TALLINN_CTL_CSV_H

#include <stdio.h>

typedef struct ctl_csv {
    FILE *out;
    int guard;   /* prefix text cells that start a formula (see ctl_csv_cell) */
    int ncells;  /* cells written in the current row */
    int error;   /* a write failed (ferror) */
} ctl_csv;

/* A writer on out (not owned). guard: 1 to defend text cells against
 * formula injection. */
void ctl_csv_init(ctl_csv *w, FILE *out, int guard);

/* Writes one cell of the current row. s may be NULL (an empty cell). text:
 * the value is free text someone typed (a title, a reason), so when guard
 * is on and it starts with '=', '+', '-', '@', TAB or CR — what spreadsheets
 * take for a formula — it is written with a leading apostrophe ("'=1+1"),
 * which spreadsheets show as text. Values the tool formats itself (amounts,
 * enums, times, names) are never changed. */
void ctl_csv_cell(ctl_csv *w, const char *s, int text);

/* Ends the current row with CRLF. Returns 0, or -1 when any write so far
 * failed. */
int ctl_csv_end_row(ctl_csv *w);

#endif
