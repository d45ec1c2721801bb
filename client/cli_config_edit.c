/* cli_config_edit.c — changes to the config file made by `tallinnctl config
 * use-context | set-context`: line by line, so comments, other sections and
 * unknown formatting stay as they were; the result is parsed again and must
 * say what was asked before it replaces the file, atomically and 0600.
 * inih only reads INI, so the editing is written here, following its rules
 * (comments, continuation lines, inline comments). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

typedef enum cli_line_kind {
    CLI_LINE_BLANK,
    CLI_LINE_COMMENT,
    CLI_LINE_CONT,    /* an indented line that continues the last value (inih multi-line) */
    CLI_LINE_SECTION, /* [name] */
    CLI_LINE_KEY,     /* name = value */
    CLI_LINE_OTHER,
} cli_line_kind;

typedef struct cli_line {
    const char *text; /* into the original, not NUL-terminated */
    size_t len;       /* with its newline, if any */
    cli_line_kind kind;
    char name[80];    /* the section's or the key's name */
    const char *section_start; /* the section it belongs to: its header's text, or NULL */
    size_t section_len;
    char *replace;    /* a new line instead of this one; "" deletes it */
    int owned;        /* replace was allocated here */
} cli_line;

typedef struct cli_lines {
    cli_line *v;
    size_t n;
} cli_lines;

/* Frees s after wiping it: text for the file may hold a token. */
static void cli_wipe_free(char *s)
{
    if (s != NULL)
        explicit_bzero(s, strlen(s));
    free(s);
}

/* Frees the lines; replacements are wiped first (they may hold a token). */
static void cli_lines_free(cli_lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!l->v[i].owned)
            continue;
        explicit_bzero(l->v[i].replace, strlen(l->v[i].replace));
        free(l->v[i].replace);
    }
    free(l->v);
}

/* Splits text into lines and classifies each as inih would read it. */
static int cli_lines_split(const char *text, cli_lines *out)
{
    size_t cap = 16;
    const char *p = text, *sec = NULL;
    size_t sec_len = 0;
    int have_name = 0; /* inih's prev_name: a continuation may follow */

    memset(out, 0, sizeof *out);
    if ((out->v = calloc(cap, sizeof *out->v)) == NULL)
        return -1;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n'), *s = p, *end;
        size_t len = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p), body;
        cli_line *ln;

        if (out->n == cap) {
            cli_line *v = realloc(out->v, 2 * cap * sizeof *v);
            if (v == NULL)
                return -1;
            memset(v + cap, 0, cap * sizeof *v);
            out->v = v;
            cap *= 2;
        }
        ln = &out->v[out->n++];
        ln->text = p;
        ln->len = len;
        body = len - (nl != NULL);
        while (s < p + body && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        end = p + body;
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        if (s == end) {
            ln->kind = CLI_LINE_BLANK;
        } else if (*s == ';' || *s == '#') {
            ln->kind = CLI_LINE_COMMENT;
        } else if (have_name && s > p) {
            ln->kind = CLI_LINE_CONT;
        } else if (*s == '[') {
            const char *close = memchr(s, ']', (size_t)(end - s));
            ln->kind = close != NULL ? CLI_LINE_SECTION : CLI_LINE_OTHER;
            if (close != NULL) {
                snprintf(ln->name, sizeof ln->name, "%.*s", (int)(close - s - 1), s + 1);
                sec = s + 1;
                sec_len = (size_t)(close - s - 1);
                have_name = 0;
            }
        } else {
            const char *eq = s;
            while (eq < end && *eq != '=' && *eq != ':')
                eq++;
            if (eq < end) {
                const char *ne = eq;
                while (ne > s && (ne[-1] == ' ' || ne[-1] == '\t'))
                    ne--;
                ln->kind = CLI_LINE_KEY;
                snprintf(ln->name, sizeof ln->name, "%.*s", (int)(ne - s), s);
                have_name = 1;
            } else {
                ln->kind = CLI_LINE_OTHER;
            }
        }
        ln->section_start = sec;
        ln->section_len = sec_len;
        p += len;
    }
    return 0;
}

static int cli_line_in(const cli_line *ln, const char *section)
{
    if (section[0] == '\0')
        return ln->section_start == NULL;
    return ln->section_start != NULL && ln->section_len == strlen(section) &&
           memcmp(ln->section_start, section, ln->section_len) == 0;
}

/* The text again, with replacements, and insert (may be NULL) placed before
 * line at (n: at the end). */
static char *cli_lines_join(const cli_lines *l, size_t at, const char *insert)
{
    size_t total = 2 + (insert != NULL ? strlen(insert) + 1 : 0);
    char *out, *o;

    for (size_t i = 0; i < l->n; i++)
        total += (l->v[i].replace != NULL ? strlen(l->v[i].replace) : l->v[i].len) + 1;
    if ((o = out = malloc(total)) == NULL)
        return NULL;
    for (size_t i = 0; i <= l->n; i++) {
        if (i == at && insert != NULL) {
            if (o > out && o[-1] != '\n')
                *o++ = '\n';
            memcpy(o, insert, strlen(insert));
            o += strlen(insert);
        }
        if (i == l->n)
            break;
        if (l->v[i].replace != NULL) {
            memcpy(o, l->v[i].replace, strlen(l->v[i].replace));
            o += strlen(l->v[i].replace);
        } else {
            memcpy(o, l->v[i].text, l->v[i].len);
            o += l->v[i].len;
        }
    }
    *o = '\0';
    return out;
}

/* A trailing inline comment (" # ..." or " ; ...") of a key line, kept when
 * its value is replaced; "" if none. */
static const char *cli_line_comment(const cli_line *ln, size_t *len)
{
    size_t body = ln->len - (ln->len > 0 && ln->text[ln->len - 1] == '\n');

    for (size_t i = 1; i < body; i++) {
        if ((ln->text[i] == '#' || ln->text[i] == ';') &&
            (ln->text[i - 1] == ' ' || ln->text[i - 1] == '\t')) {
            size_t start = i;
            while (start > 0 && (ln->text[start - 1] == ' ' || ln->text[start - 1] == '\t'))
                start--;
            *len = body - start;
            return ln->text + start;
        }
    }
    *len = 0;
    return "";
}

static int cli_value_ok(const char *key, const char *v, char *err, size_t err_len)
{
    size_t n = strlen(v);

    if (n == 0 || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t') {
        snprintf(err, err_len, "%s: %s", key, n == 0 ? "empty" : "begins or ends with a space");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < ' ' || v[i] == 0x7f) {
            snprintf(err, err_len, "%s: holds a control character", key);
            return 0;
        }
        if (i > 0 && (v[i] == '#' || v[i] == ';') && (v[i - 1] == ' ' || v[i - 1] == '\t')) {
            snprintf(err, err_len, "%s: \" %c\" would start a comment in the file", key, v[i]);
            return 0;
        }
    }
    if (strlen(key) + 3 + n > CLI_CFG_MAX_LINE) {
        snprintf(err, err_len, "%s: longer than a config line may be (%d characters)", key,
                 CLI_CFG_MAX_LINE);
        return 0;
    }
    return 1;
}

/* Parses text (the file before or after the edit). */
static int cli_edit_parse(const char *text, const char *what, cli_cfg *cfg, char *err,
                          size_t err_len)
{
    char why[256];

    if (cli_cfg_parse("the config file", text, cfg, why, sizeof why) != 0) {
        snprintf(err, err_len, "%s: %s", what, why);
        return -1;
    }
    return 0;
}

int cli_cfg_edit_default(const char *text, const char *name, char **out, char *err,
                         size_t err_len)
{
    cli_lines l;
    cli_cfg before, after;
    size_t at, first_section;
    char *line = NULL;
    int found = 0, rc = -1;

    *out = NULL;
    if (!cli_cfg_valid_name(name)) {
        snprintf(err, err_len, "\"%s\" is not a context name ([A-Za-z0-9._@-], at most 63)",
                 name);
        return -1;
    }
    if (cli_edit_parse(text, "fix the config file first", &before, err, err_len) != 0)
        return -1;
    cli_cfg_free(&before);
    if (cli_lines_split(text, &l) != 0 || asprintf(&line, "context = %s\n", name) < 0) {
        snprintf(err, err_len, "out of memory");
        line = NULL;
        goto done;
    }
    for (first_section = 0; first_section < l.n; first_section++)
        if (l.v[first_section].kind == CLI_LINE_SECTION)
            break;
    for (size_t i = 0; i < first_section; i++) {
        if (l.v[i].kind == CLI_LINE_KEY && strcmp(l.v[i].name, "context") == 0) {
            size_t clen;
            const char *c = cli_line_comment(&l.v[i], &clen);
            if (asprintf(&l.v[i].replace, "context = %s%.*s\n", name, (int)clen, c) < 0) {
                l.v[i].replace = NULL;
                snprintf(err, err_len, "out of memory");
                goto done;
            }
            l.v[i].owned = 1;
            found = 1;
        } else if (l.v[i].kind == CLI_LINE_CONT && found) {
            l.v[i].replace = ""; /* the old value's continuation */
        }
    }
    /* Before the first section and the comment lines right above it (which
     * describe that section). */
    at = first_section;
    while (at > 0 && at < l.n && l.v[at - 1].kind == CLI_LINE_COMMENT)
        at--;
    *out = cli_lines_join(&l, found ? l.n : at, found ? NULL : line);
    if (*out == NULL) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }
    if (cli_edit_parse(*out, "cannot edit the config file safely", &after, err, err_len) != 0)
        goto done;
    rc = after.default_context != NULL && strcmp(after.default_context, name) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, err_len, "cannot edit the config file safely: it would not name \"%s\" "
                 "the default afterwards", name);
    cli_cfg_free(&after);
done:
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    free(line);
    cli_lines_free(&l);
    return rc;
}

/* Checks that after holds the context as asked. */
static int cli_edit_check(const cli_cfg *after, const char *name,
                          const char *const set[CLI_CFG_NKEYS], unsigned unset)
{
    const cli_cfg_context *c = cli_cfg_find(after, name);

    if (c == NULL)
        return -1;
    for (int k = 0; k < CLI_CFG_NKEYS; k++) {
        if (set[k] != NULL && (c->values[k] == NULL || strcmp(c->values[k], set[k]) != 0))
            return -1;
        if (set[k] == NULL && (unset & (1u << k)) && c->values[k] != NULL)
            return -1;
    }
    return 0;
}

/* Marks the lines of section `name` that change: a key in set replaced in
 * place (written[k] noted), a key in unset removed, with their continuation
 * lines. *have_section and *last (the section's last header or setting)
 * tell where new keys go. 0, or -1 when out of memory. */
static int cli_edit_mark(cli_lines *l, const char *name, const char *const set[CLI_CFG_NKEYS],
                         unsigned unset, int written[CLI_CFG_NKEYS], int *have_section,
                         size_t *last)
{
    int in_key = -1;

    for (size_t i = 0; i < l->n; i++) {
        cli_line *ln = &l->v[i];
        size_t clen;
        const char *c;
        int k;

        if (ln->kind == CLI_LINE_CONT) {
            if (in_key >= 0)
                ln->replace = ""; /* continues a value replaced or removed */
            continue;
        }
        if (ln->kind != CLI_LINE_COMMENT && ln->kind != CLI_LINE_BLANK)
            in_key = -1;
        if (!cli_line_in(ln, name) || (ln->kind != CLI_LINE_SECTION && ln->kind != CLI_LINE_KEY))
            continue;
        *last = i;
        if (ln->kind == CLI_LINE_SECTION) {
            *have_section = 1;
            continue;
        }
        for (k = 0; k < CLI_CFG_NKEYS; k++)
            if (strcmp(ln->name, cli_cfg_key_names[k]) == 0)
                break;
        if (k == CLI_CFG_NKEYS || (set[k] == NULL && !(unset & (1u << k))))
            continue;
        in_key = k;
        if (set[k] == NULL) {
            ln->replace = "";
            continue;
        }
        c = cli_line_comment(ln, &clen);
        if (asprintf(&ln->replace, "%s = %s%.*s\n", cli_cfg_key_names[k], set[k], (int)clen,
                     c) < 0) {
            ln->replace = NULL;
            return -1;
        }
        ln->owned = 1;
        written[k] = 1;
    }
    return 0;
}

int cli_cfg_edit_set(const char *text, const char *name, const char *const set[CLI_CFG_NKEYS],
                     unsigned unset, char **out, char *err, size_t err_len)
{
    cli_lines l;
    cli_cfg before, after;
    char *insert = NULL;
    size_t ins_len = 0, last = 0, at;
    int written[CLI_CFG_NKEYS] = {0}, have_section = 0, rc = -1;

    *out = NULL;
    memset(&l, 0, sizeof l);
    if (!cli_cfg_valid_name(name)) {
        snprintf(err, err_len, "\"%s\" is not a context name ([A-Za-z0-9._@-], at most 63)",
                 name);
        return -1;
    }
    for (int k = 0; k < CLI_CFG_NKEYS; k++)
        if (set[k] != NULL && !cli_value_ok(cli_cfg_key_names[k], set[k], err, err_len))
            return -1;
    if (cli_edit_parse(text, "fix the config file first", &before, err, err_len) != 0)
        return -1;
    cli_cfg_free(&before);
    if (cli_lines_split(text, &l) != 0)
        goto oom;
    if (cli_edit_mark(&l, name, set, unset, written, &have_section, &last) != 0)
        goto oom;
    /* The keys not there yet, after the section's last setting (or as a new
     * section at the end). */
    for (int k = 0; k < CLI_CFG_NKEYS; k++) {
        char *more;
        if (set[k] == NULL || written[k])
            continue;
        if (asprintf(&more, "%s%s = %s\n", insert != NULL ? insert : "", cli_cfg_key_names[k],
                     set[k]) < 0)
            goto oom;
        cli_wipe_free(insert);
        insert = more;
    }
    if (!have_section) {
        char *more;
        if (asprintf(&more, "%s[%s]\n%s", l.n > 0 ? "\n" : "", name,
                     insert != NULL ? insert : "") < 0)
            goto oom;
        cli_wipe_free(insert);
        insert = more;
        at = l.n;
    } else {
        at = last + 1;
        while (at < l.n && l.v[at].kind == CLI_LINE_CONT)
            at++;
    }
    ins_len = insert != NULL ? strlen(insert) : 0;
    if ((*out = cli_lines_join(&l, at, ins_len > 0 ? insert : NULL)) == NULL)
        goto oom;
    if (cli_edit_parse(*out, "cannot edit the config file safely", &after, err, err_len) != 0)
        goto done;
    rc = cli_edit_check(&after, name, set, unset);
    if (rc != 0)
        snprintf(err, err_len, "cannot edit the config file safely: [%s] would not hold the "
                 "settings given afterwards", name);
    cli_cfg_free(&after);
    goto done;
oom:
    snprintf(err, err_len, "out of memory");
done:
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    cli_wipe_free(insert);
    cli_lines_free(&l);
    return rc;
}

/* mkdir -p for the directory part of path, new ones 0700. */
static int cli_mkdirs(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof buf)
        return n == 0 ? 0 : -ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int cli_cfg_write(const char *path, const char *text, char *err, size_t err_len)
{
    char target[PATH_MAX], dir[PATH_MAX], base[PATH_MAX], *tmp = NULL;
    struct stat st;
    size_t len = strlen(text), done = 0;
    int fd = -1, dfd, rc;

    /* A symlinked config file: replace what it points to, keep the link. */
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        if (realpath(path, target) == NULL) {
            rc = -errno;
            snprintf(err, err_len, "%s is a symbolic link to nowhere: %s", path,
                     strerror(errno));
            return rc;
        }
    } else if (snprintf(target, sizeof target, "%s", path) >= (int)sizeof target) {
        snprintf(err, err_len, "%s: name too long", path);
        return -ENAMETOOLONG;
    }
    {
        char a[PATH_MAX], b[PATH_MAX]; /* dirname and basename may change their argument */
        snprintf(a, sizeof a, "%s", target);
        snprintf(b, sizeof b, "%s", target);
        snprintf(dir, sizeof dir, "%s", dirname(a));
        snprintf(base, sizeof base, "%s", basename(b));
    }
    if ((rc = cli_mkdirs(dir)) != 0) {
        snprintf(err, err_len, "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0 || fchmod(fd, 0600) != 0)
        goto fail;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, target) != 0)
        goto fail;
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd); /* the rename itself, durable */
        close(dfd);
    }
    free(tmp);
    return 0;
fail:
    rc = -errno;
    snprintf(err, err_len, "cannot write %s: %s (left as it was)", target, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}
