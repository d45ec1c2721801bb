/* ctl_help.c — renders tallinnctl's command table as --help text, as a man
 * page (roff) and as a bash completion script, so the three never drift
 * apart from each other or from what the parser accepts. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

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
          "context chosen in the config file ($XDG_CONFIG_HOME/tallinn/config, default\n"
          "~/.config/tallinn/config; see --context), then the defaults. Without\n"
          "--insecure, the connection uses TLS.\n\nExit status:\n", out);
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
          ".TH TALLINNCTL 1 \"\" \"tallinnctl " TALLINN_VERSION "\" \"Tallinn Mechanism\"\n"
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
    fputs(".SH FILES\n.TP\n.I $XDG_CONFIG_HOME/tallinn/config\n"
          "(default \\fI~/.config/tallinn/config\\fR) INI: \\fBcontext =\\fR \\fINAME\\fR before "
          "any section names the default context; each \\fB[\\fR\\fINAME\\fR\\fB]\\fR section "
          "may set addr, insecure, token\\-file, token, ca, cert, key, server\\-name and "
          "deadline, as the options of the same names.\n", out);
    fputs(".SH EXIT STATUS\n", out);
    for (size_t i = 0; i < ctl_exit_codes_count; i++) {
        fprintf(out, ".TP\n.B %d\n", ctl_exit_codes[i].code);
        ctl_roff(out, ctl_exit_codes[i].meaning);
        fputc('\n', out);
    }
    fputs(".SH EXAMPLES\n", out);
    for (size_t i = 0; i < ctl_commands_count; i++) {
        const ctl_example *e = ctl_commands[i].examples;
        for (size_t k = 0; e != NULL && e[k].cmd != NULL; k++) {
            fputs(".PP\n", out);
            ctl_roff(out, e[k].what);
            fputs(":\n.RS\n.nf\n", out);
            ctl_roff(out, e[k].cmd);
            fputs("\n.fi\n.RE\n", out);
        }
    }
    fputs(".SH SEE ALSO\n.BR tallinnd (8)\n", out);
}

/* ---- Bash completion ---- */

/* Prints the option words ("-o --output --addr ...") of a list. */
static void ctl_bash_option_words(FILE *out, const ctl_option *opts, int n)
{
    for (int i = 0; (n < 0 || i < n) && opts != NULL && opts[i].name != NULL; i++) {
        if (opts[i].short_name)
            fprintf(out, " -%c", opts[i].short_name);
        fprintf(out, " --%s", opts[i].name);
    }
}

/* Case patterns for the options of a list that take a value, by kind. */
static void ctl_bash_value_cases(FILE *out, const ctl_option *opts, int n)
{
    for (int i = 0; (n < 0 || i < n) && opts != NULL && opts[i].name != NULL; i++) {
        const ctl_option *o = &opts[i];

        if (o->arg == NULL)
            continue;
        fputs("        ", out);
        if (o->short_name)
            fprintf(out, "-%c|", o->short_name);
        fprintf(out, "--%s)\n", o->name);
        if (o->complete == CTL_COMPLETE_FILE)
            fputs("            COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", out);
        else if (o->complete == CTL_COMPLETE_VALUES)
            fprintf(out, "            COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return ;;\n",
                    o->values);
        else
            fputs("            return ;;\n", out);
    }
}

/* "-o|--output|--addr..." for the options of a list that take a value. */
static void ctl_bash_value_pattern(FILE *out, const ctl_option *opts, int n, int *first)
{
    for (int i = 0; (n < 0 || i < n) && opts != NULL && opts[i].name != NULL; i++) {
        if (opts[i].arg == NULL)
            continue;
        if (opts[i].short_name) {
            fprintf(out, "%s-%c", *first ? "" : "|", opts[i].short_name);
            *first = 0;
        }
        fprintf(out, "%s--%s", *first ? "" : "|", opts[i].name);
        *first = 0;
    }
}

static int ctl_noun_seen(size_t upto, const char *noun)
{
    for (size_t i = 0; i < upto; i++)
        if (strcmp(ctl_commands[i].noun, noun) == 0)
            return 1;
    return 0;
}

void ctl_render_bash_completion(FILE *out)
{
    char name[128];

    fputs("# bash completion for tallinnctl; generated by 'tallinnctl completion bash' from\n"
          "# its command table. Do not edit.\n"
          "_tallinnctl() {\n"
          "    local cur prev i w noun= verb= skip=\n"
          "    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
          "    prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
          "    case \"$prev\" in\n", out);
    ctl_bash_value_cases(out, ctl_global_options, CTL_G_COUNT);
    for (size_t i = 0; i < ctl_commands_count; i++)
        ctl_bash_value_cases(out, ctl_commands[i].options, -1);
    fputs("    esac\n"
          "    # Find the command words, skipping options and their values.\n"
          "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
          "        w=\"${COMP_WORDS[i]}\"\n"
          "        if [[ -n $skip ]]; then skip=; continue; fi\n"
          "        case \"$w\" in\n", out);
    /* Options that take a separate value: the word after them is no command. */
    {
        int first = 1;

        fputs("            ", out);
        ctl_bash_value_pattern(out, ctl_global_options, CTL_G_COUNT, &first);
        for (size_t c = 0; c < ctl_commands_count; c++)
            ctl_bash_value_pattern(out, ctl_commands[c].options, -1, &first);
        fputs(") skip=1; continue ;;\n", out);
    }
    fputs("            -*) continue ;;\n"
          "        esac\n"
          "        if [[ -z $noun ]]; then noun=\"$w\"; elif [[ -z $verb ]]; then verb=\"$w\"; fi\n"
          "    done\n"
          "    if [[ $cur == -* ]]; then\n"
          "        local opts=\"", out);
    ctl_bash_option_words(out, ctl_global_options, CTL_G_COUNT);
    fputs("\"\n        case \"$noun $verb\" in\n", out);
    for (size_t i = 0; i < ctl_commands_count; i++) {
        const ctl_command *c = &ctl_commands[i];
        if (c->options == NULL || c->options[0].name == NULL)
            continue;
        ctl_command_name(c, name, sizeof name);
        fprintf(out, "            \"%s%s\"*) opts+=\"", name, c->verb ? "" : " ");
        ctl_bash_option_words(out, c->options, -1);
        fputs("\" ;;\n", out);
    }
    fputs("        esac\n"
          "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
          "        return\n"
          "    fi\n"
          "    if [[ -z $noun ]]; then\n"
          "        COMPREPLY=($(compgen -W \"", out);
    for (size_t i = 0; i < ctl_commands_count; i++)
        if (!ctl_noun_seen(i, ctl_commands[i].noun))
            fprintf(out, "%s%s", i > 0 ? " " : "", ctl_commands[i].noun);
    fputs("\" -- \"$cur\"))\n"
          "        return\n"
          "    fi\n"
          "    case \"$noun\" in\n", out);
    /* Nouns with verbs complete their verbs; help completes nouns. */
    for (size_t i = 0; i < ctl_commands_count; i++) {
        const ctl_command *c = &ctl_commands[i];
        if (c->verb == NULL || ctl_noun_seen(i, c->noun))
            continue;
        fprintf(out, "        %s)\n            [[ -z $verb ]] && COMPREPLY=($(compgen -W \"",
                c->noun);
        for (size_t k = i; k < ctl_commands_count; k++)
            if (strcmp(ctl_commands[k].noun, c->noun) == 0)
                fprintf(out, "%s%s", k > i ? " " : "", ctl_commands[k].verb);
        fputs("\" -- \"$cur\")) ;;\n", out);
    }
    fputs("        help)\n            [[ -z $verb ]] && COMPREPLY=($(compgen -W \"", out);
    for (size_t i = 0; i < ctl_commands_count; i++)
        if (!ctl_noun_seen(i, ctl_commands[i].noun))
            fprintf(out, "%s%s", i > 0 ? " " : "", ctl_commands[i].noun);
    fputs("\" -- \"$cur\")) ;;\n"
          "    esac\n"
          "}\n"
          "complete -F _tallinnctl tallinnctl\n", out);
}
