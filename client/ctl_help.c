/* ctl_help.c — renders tallinnctl's command table as --help text and as a
 * man page (roff), so neither drifts from the other or from what the parser
 * accepts (shell completion reads the same table: ctl_complete.c). */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

#ifndef CTL_MAN_DATE /* the build's date (client/ctl.cmake; SOURCE_DATE_EPOCH wins) */
#define CTL_MAN_DATE ""
#endif
#define CTL_HELP_WIDTH 79
#define CTL_HELP_COLUMN 26 /* where option and command descriptions start */

const char *ctl_command_name(const ctl_command *cmd, char *buf, size_t len)
{
    if (cmd->verb != NULL)
        snprintf(buf, len, "%s %s", cmd->noun, cmd->verb);
    else
        snprintf(buf, len, "%s", cmd->noun);
    return buf;
}

/* ---- Did you mean ---- */

#define CTL_SUGGEST_MAX 128

const char *ctl_suggest_noun(const char *word)
{
    const char *words[CTL_SUGGEST_MAX];
    size_t n = 0;

    for (size_t i = 0; i < ctl_commands_count && n < CTL_SUGGEST_MAX; i++)
        words[n++] = ctl_commands[i].noun; /* duplicates are harmless */
    return cli_suggest(word, words, n);
}

const char *ctl_suggest_verb(const char *noun, const char *word)
{
    const char *words[CTL_SUGGEST_MAX];
    size_t n = 0;

    for (size_t i = 0; i < ctl_commands_count && n < CTL_SUGGEST_MAX; i++)
        if (strcmp(ctl_commands[i].noun, noun) == 0 && ctl_commands[i].verb != NULL)
            words[n++] = ctl_commands[i].verb;
    return cli_suggest(word, words, n);
}

const char *ctl_suggest_option(const ctl_command *cmd, const char *word)
{
    const char *words[CTL_SUGGEST_MAX];
    size_t n = 0, len = strcspn(word, "=");
    char bare[64];

    snprintf(bare, sizeof bare, "%.*s", (int)len, word);
    for (int i = 0; i < CTL_G_COUNT; i++)
        words[n++] = ctl_global_options[i].name;
    for (size_t i = 0; cmd != NULL && cmd->options != NULL && cmd->options[i].name != NULL &&
                       n < CTL_SUGGEST_MAX; i++)
        words[n++] = cmd->options[i].name;
    return cli_suggest(bare, words, n);
}

/* Prints text word-wrapped; the first line continues at column col, later
 * lines start at indent. Ends with a newline. */
static void ctl_wrap(FILE *out, const char *text, int indent, int col)
{
    const char *p = text;

    while (*p != '\0') {
        size_t w = strcspn(p, " ");

        if (col > indent && col + 1 + (int)w > CTL_HELP_WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, w, out);
        col += (int)w;
        p += w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

/* "  -o, --output FORMAT" padded to the description column, then the help. */
static void ctl_help_option(FILE *out, const ctl_option *o, const char *extra)
{
    char left[96], help[320];
    int n;

    if (o->short_name)
        n = snprintf(left, sizeof left, "  -%c, --%s%s%s", o->short_name, o->name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
    else /* aligned under the "--" of "-o, --output" */
        n = snprintf(left, sizeof left, "      --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
    snprintf(help, sizeof help, "%s%s%s%s%s%s%s", o->help, o->env || o->def ? " [" : "",
             o->env ? "env " : "", o->env ? o->env : "", o->env && o->def ? ", " : "",
             o->def ? "default " : "", o->def ? o->def : "");
    if (o->env || o->def)
        strncat(help, "]", sizeof help - strlen(help) - 1);
    if (extra != NULL) {
        strncat(help, " ", sizeof help - strlen(help) - 1);
        strncat(help, extra, sizeof help - strlen(help) - 1);
    }
    fputs(left, out);
    if (n >= CTL_HELP_COLUMN - 1) {
        fprintf(out, "\n%*s", CTL_HELP_COLUMN, "");
        n = CTL_HELP_COLUMN;
    } else {
        fprintf(out, "%*s", CTL_HELP_COLUMN - n, "");
        n = CTL_HELP_COLUMN;
    }
    ctl_wrap(out, help, CTL_HELP_COLUMN, n);
}

/* One line of a command list; verb_only lists a noun's verbs. */
static void ctl_help_command_line(FILE *out, const ctl_command *c, int verb_only)
{
    char name[128], left[192];
    int n;

    if (verb_only && c->verb != NULL)
        snprintf(name, sizeof name, "%s", c->verb);
    else
        ctl_command_name(c, name, sizeof name);
    n = snprintf(left, sizeof left, "  %s%s%s", name, c->args ? " " : "", c->args ? c->args : "");
    fputs(left, out);
    if (n >= CTL_HELP_COLUMN - 1)
        fprintf(out, "\n%*s", CTL_HELP_COLUMN, "");
    else
        fprintf(out, "%*s", CTL_HELP_COLUMN - n, "");
    ctl_wrap(out, c->summary, CTL_HELP_COLUMN, CTL_HELP_COLUMN);
}

static void ctl_formats_text(unsigned formats, char *buf, size_t len)
{
    buf[0] = '\0';
    if (formats & CTL_FORMAT_TEXT)
        strncat(buf, "text", len - strlen(buf) - 1);
    if (formats & CTL_FORMAT_JSON)
        strncat(buf, buf[0] ? ", json" : "json", len - strlen(buf) - 1);
    if (formats & CTL_FORMAT_NAME)
        strncat(buf, buf[0] ? ", name" : "name", len - strlen(buf) - 1);
    if (formats & CTL_FORMAT_CSV)
        strncat(buf, buf[0] ? ", csv" : "csv", len - strlen(buf) - 1);
}

void ctl_help_global(FILE *out)
{
    fputs(CTL_PROG " - the Tallinn Mechanism's command-line tool for staff.\n\n"
          "Usage:\n  " CTL_PROG " [global options] COMMAND [arguments] [options]\n\n"
          "Commands:\n", out);
    for (size_t i = 0; i < ctl_commands_count; i++)
        ctl_help_command_line(out, &ctl_commands[i], 0);
    fputs("\nGlobal options (accepted anywhere on the line):\n", out);
    for (int i = 0; i < CTL_G_COUNT; i++)
        ctl_help_option(out, &ctl_global_options[i], NULL);
    fputs("\nOptions take precedence over the environment, which takes precedence over the\n"
          "context chosen in the config file ($TALLINN_CONFIG, else\n"
          "$XDG_CONFIG_HOME/tallinn/config, default ~/.config/tallinn/config; see\n"
          "--context), then the defaults. Without --insecure, the connection uses TLS.\n"
          "\nExit status:\n", out);
    for (size_t i = 0; i < ctl_exit_codes_count; i++) {
        fprintf(out, "  %d  ", ctl_exit_codes[i].code);
        ctl_wrap(out, ctl_exit_codes[i].meaning, 5, 5);
    }
    fputs("\nRun '" CTL_PROG " COMMAND --help' for a command's options and examples.\n", out);
}

void ctl_help_noun(FILE *out, const char *noun)
{
    fprintf(out, "Usage: " CTL_PROG " %s COMMAND [arguments] [options]\n\nCommands:\n", noun);
    for (size_t i = 0; i < ctl_commands_count; i++)
        if (strcmp(ctl_commands[i].noun, noun) == 0)
            ctl_help_command_line(out, &ctl_commands[i], 1);
    fprintf(out, "\nRun '" CTL_PROG " %s COMMAND --help' for a command's options and examples.\n",
            noun);
}

void ctl_help_command(FILE *out, const ctl_command *cmd)
{
    char name[128], formats[64];

    ctl_command_name(cmd, name, sizeof name);
    fprintf(out, "Usage: " CTL_PROG " %s%s%s [options]\n\n", name, cmd->args ? " " : "",
            cmd->args ? cmd->args : "");
    ctl_wrap(out, cmd->description, 0, 0);
    fputs("\nOptions:\n", out);
    for (size_t i = 0; cmd->options != NULL && cmd->options[i].name != NULL; i++)
        ctl_help_option(out, &cmd->options[i], NULL);
    ctl_formats_text(cmd->formats, formats, sizeof formats);
    if (strchr(formats, ',') != NULL) {
        ctl_option o = ctl_global_options[CTL_G_OUTPUT];
        char extra[96];

        snprintf(extra, sizeof extra, "(here: %s)", formats);
        o.help = "output format";
        ctl_help_option(out, &o, extra);
    }
    fputs("  Global options (--addr, --insecure, --ca, --deadline, ...):\n"
          "                          see '" CTL_PROG " --help'\n\nExamples:\n", out);
    for (size_t i = 0; cmd->examples != NULL && cmd->examples[i].cmd != NULL; i++)
        fprintf(out, "%s  # %s\n  %s\n", i > 0 ? "\n" : "", cmd->examples[i].what,
                cmd->examples[i].cmd);
}

/* ---- Man page ---- */

/* Writes text escaped for roff: backslashes, hyphens in option-like words,
 * and a leading dot or quote. */
static void ctl_roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

static void ctl_man_option(FILE *out, const ctl_option *o)
{
    fputs(".TP\n", out);
    if (o->short_name)
        fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
    fputs("\\fB\\-\\-", out);
    ctl_roff(out, o->name);
    fputs("\\fR", out);
    if (o->arg) {
        fputs(" \\fI", out);
        ctl_roff(out, o->arg);
        fputs("\\fR", out);
    }
    fputc('\n', out);
    ctl_roff(out, o->help);
    fputc('.', out);
    if (o->env) {
        fputs(" Environment: \\fB", out);
        ctl_roff(out, o->env);
        fputs("\\fR.", out);
    }
    if (o->def) {
        fputs(" Default: ", out);
        ctl_roff(out, o->def);
        fputc('.', out);
    }
    fputc('\n', out);
}

void ctl_render_man(FILE *out)
{
    char name[128], formats[64];

    fputs(".\\\" Generated by 'tallinnctl help --man' from the command table. Do not edit.\n"
          ".TH TALLINNCTL 1 \"" CTL_MAN_DATE "\" \"tallinnctl " TALLINN_VERSION "\" "
          "\"Tallinn Mechanism\"\n"
          ".SH NAME\ntallinnctl \\- the Tallinn Mechanism's command\\-line tool for staff\n"
          ".SH SYNOPSIS\n.B tallinnctl\n[\\fIglobal options\\fR] \\fICOMMAND\\fR "
          "[\\fIarguments\\fR] [\\fIoptions\\fR]\n"
          ".SH DESCRIPTION\n.B tallinnctl\ntalks to a tallinnd server over gRPC. Commands are "
          "nouns, or nouns with verbs; global options may appear anywhere on the line. Options "
          "take precedence over the environment, which takes precedence over the config file "
          "context, then the defaults. "
          "Without \\fB\\-\\-insecure\\fR the connection uses TLS.\n"
          ".SH COMMANDS\n", out);
    for (size_t i = 0; i < ctl_commands_count; i++) {
        const ctl_command *c = &ctl_commands[i];

        fputs(".TP\n\\fB", out);
        ctl_roff(out, ctl_command_name(c, name, sizeof name));
        fputs("\\fR", out);
        if (c->args) {
            fputs(" \\fI", out);
            ctl_roff(out, c->args);
            fputs("\\fR", out);
        }
        fputc('\n', out);
        ctl_roff(out, c->description);
        ctl_formats_text(c->formats, formats, sizeof formats);
        if (strchr(formats, ',') != NULL) {
            fputs(" Output formats: ", out);
            ctl_roff(out, formats);
            fputc('.', out);
        }
        fputc('\n', out);
        if (c->options != NULL && c->options[0].name != NULL) {
            fputs(".RS\n", out);
            for (size_t k = 0; c->options[k].name != NULL; k++)
                ctl_man_option(out, &c->options[k]);
            fputs(".RE\n", out);
        }
    }
    fputs(".SH GLOBAL OPTIONS\n", out);
    for (int i = 0; i < CTL_G_COUNT; i++)
        ctl_man_option(out, &ctl_global_options[i]);
    fputs(".SH ENVIRONMENT\n", out);
    for (int i = 0; i < CTL_G_COUNT; i++) {
        const ctl_option *o = &ctl_global_options[i];
        if (o->env == NULL)
            continue;
        fputs(".TP\n.B ", out);
        ctl_roff(out, o->env);
        fputs("\nAs \\fB\\-\\-", out);
        ctl_roff(out, o->name);
        fputs("\\fR when that option is not given.\n", out);
    }
    fputs(".TP\n.B TALLINN_CONFIG\nThe config file to read instead of the one under "
          "\\fI$XDG_CONFIG_HOME\\fR; a file named here that cannot be read is an error.\n", out);
    fputs(".TP\n.B PAGER\nThe pager for tables and lists when standard output is a terminal "
          "(default \\fBless \\-FRX\\fR; \\fBLESS\\fR defaults to FRX); empty or "
          "\\fBcat\\fR: none.\n.TP\n.B NO_COLOR\nWhen set and not empty: no colour.\n", out);
    fputs(".SH FILES\n.TP\n.I $XDG_CONFIG_HOME/tallinn/config\n"
          "(default \\fI~/.config/tallinn/config\\fR; \\fBTALLINN_CONFIG\\fR names another) INI: "
          "\\fBcontext =\\fR \\fINAME\\fR before "
          "any section names the default context; each \\fB[\\fR\\fINAME\\fR\\fB]\\fR section "
          "may set addr, insecure, token\\-file, token, ca, cert, key, server\\-name and "
          "deadline, as the options of the same names. \\fBconfig set\\-context\\fR and "
          "\\fBconfig use\\-context\\fR edit it in place (mode 0600); "
          "\\fBtallinn\\-audit\\fR(1) reads the same contexts.\n", out);
    fputs(".SH EXIT STATUS\n", out);
    for (size_t i = 0; i < ctl_exit_codes_count; i++) {
        fprintf(out, ".TP\n.B %d\n", ctl_exit_codes[i].code);
        ctl_roff(out, ctl_exit_codes[i].meaning);
        fputc('\n', out);
    }
    fputs(".SH EXAMPLES\n", out);
    for (size_t i = 0, first = 1; i < ctl_commands_count; i++) {
        const ctl_example *e = ctl_commands[i].examples;
        for (size_t k = 0; e != NULL && e[k].cmd != NULL; k++, first = 0) {
            if (!first) /* a paragraph break right after .SH is one too many */
                fputs(".PP\n", out);
            ctl_roff(out, e[k].what);
            fputs(":\n.RS\n.nf\n", out);
            ctl_roff(out, e[k].cmd);
            fputs("\n.fi\n.RE\n", out);
        }
    }
    fputs(".SH SEE ALSO\n.BR tallinnd (8),\n.BR tallinn\\-audit (1)\n", out);
}
