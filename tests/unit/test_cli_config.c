/* Unit tests for the config file of contexts (client/cli_config*.c): parsing
 * (defaults, trailing comments, unknown settings by line), editing in place
 * (comments, other sections, continuation lines and inline comments kept;
 * keys replaced, added, removed; a section added; the default set), values
 * that would not read back refused, and the atomic write (0600, a symlink
 * followed, missing directories made). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static const char SAMPLE[] =
    "# written by make run\n"
    "context = local          # the default\n"
    "\n"
    "# BACK_OFFICE\n"
    "[local]\n"
    "addr = 127.0.0.1:50051\n"
    "insecure = true\n"
    "token-file = demo-back-office.token ; relative to this file\n"
    "\n"
    "; the admin\n"
    "[local-admin]\n"
    "addr = 127.0.0.1:50051\n"
    "token-file = admin.token\n";

static void parse_ok(const char *text, cli_cfg *c)
{
    char err[256] = "";

    if (cli_cfg_parse("test.conf", text, c, err, sizeof err) != 0)
        fail_msg("parse: %s\n%s", err, text);
}

static void test_parse(void **state)
{
    cli_cfg c;
    char err[256];

    (void)state;
    parse_ok(SAMPLE, &c);
    assert_string_equal(c.default_context, "local");
    assert_int_equal(c.n, 2);
    assert_string_equal(cli_cfg_find(&c, "local")->values[CLI_CFG_TOKEN_FILE],
                        "demo-back-office.token");
    assert_string_equal(cli_cfg_find(&c, "local-admin")->values[CLI_CFG_ADDR], "127.0.0.1:50051");
    assert_null(cli_cfg_find(&c, "local-admin")->values[CLI_CFG_INSECURE]);
    assert_null(cli_cfg_find(&c, "nope"));
    assert_true(cli_cfg_true(cli_cfg_find(&c, "local")->values[CLI_CFG_INSECURE]));
    cli_cfg_free(&c);
    assert_int_equal(cli_cfg_parse("x.conf", "[a]\ncolour = red\n", &c, err, sizeof err), -22);
    assert_non_null(strstr(err, "x.conf, line 2: unknown setting \"colour\""));
    assert_int_equal(cli_cfg_parse("x.conf", "addr = h:1\n", &c, err, sizeof err), -22);
    assert_non_null(strstr(err, "before any [context] section"));
}

static void test_abs_path_and_names(void **state)
{
    char *p;

    (void)state;
    p = cli_cfg_abs_path("/etc/tallinn/config", "t.token");
    assert_string_equal(p, "/etc/tallinn/t.token");
    free(p);
    p = cli_cfg_abs_path("/etc/tallinn/config", "/abs/t.token");
    assert_string_equal(p, "/abs/t.token");
    free(p);
    assert_true(cli_cfg_valid_name("local-donor"));
    assert_true(cli_cfg_valid_name("prod.eu_1@kyiv"));
    assert_false(cli_cfg_valid_name(""));
    assert_false(cli_cfg_valid_name("has space"));
    assert_false(cli_cfg_valid_name("a]b"));
}

static char *set(const char *text, const char *name, const char *const vals[CLI_CFG_NKEYS],
                 unsigned unset)
{
    char err[256] = "", *out = NULL;

    if (cli_cfg_edit_set(text, name, vals, unset, &out, err, sizeof err) != 0)
        fail_msg("edit_set %s: %s", name, err);
    return out;
}

static void test_edit_set_existing(void **state)
{
    const char *v[CLI_CFG_NKEYS] = {0};
    char *out;
    cli_cfg c;

    (void)state;
    v[CLI_CFG_ADDR] = "tallinn.example:443";
    v[CLI_CFG_CA] = "/etc/ssl/tallinn-ca.pem";
    out = set(SAMPLE, "local", v, 1u << CLI_CFG_INSECURE);
    /* every other line as it was; addr replaced in place, its comment kept */
    assert_non_null(strstr(out, "# written by make run\ncontext = local          # the default\n"
                                "\n# BACK_OFFICE\n[local]\naddr = tallinn.example:443\n"
                                "token-file = demo-back-office.token ; relative to this file\n"
                                "ca = /etc/ssl/tallinn-ca.pem\n\n; the admin\n[local-admin]\n"));
    assert_null(strstr(out, "insecure"));
    parse_ok(out, &c);
    assert_string_equal(cli_cfg_find(&c, "local")->values[CLI_CFG_ADDR], "tallinn.example:443");
    assert_string_equal(cli_cfg_find(&c, "local-admin")->values[CLI_CFG_TOKEN_FILE],
                        "admin.token");
    cli_cfg_free(&c);
    free(out);
}

static void test_edit_set_new_section(void **state)
{
    const char *v[CLI_CFG_NKEYS] = {0};
    char *out, *out2;
    cli_cfg c;

    (void)state;
    v[CLI_CFG_ADDR] = "10.0.0.5:50051,10.0.0.6:50051";
    v[CLI_CFG_TOKEN_FILE] = "/home/o/.tallinn/prod.token";
    out = set(SAMPLE, "prod", v, 0);
    assert_memory_equal(out, SAMPLE, strlen(SAMPLE)); /* appended only */
    assert_string_equal(out + strlen(SAMPLE), "\n[prod]\naddr = 10.0.0.5:50051,10.0.0.6:50051\n"
                                              "token-file = /home/o/.tallinn/prod.token\n");
    /* into an empty file, and a file without a final newline */
    out2 = set("", "prod", v, 0);
    assert_string_equal(out2, "[prod]\naddr = 10.0.0.5:50051,10.0.0.6:50051\n"
                              "token-file = /home/o/.tallinn/prod.token\n");
    free(out2);
    out2 = set("[a]\naddr = x:1", "a", v, 0);
    parse_ok(out2, &c);
    assert_string_equal(cli_cfg_find(&c, "a")->values[CLI_CFG_ADDR],
                        "10.0.0.5:50051,10.0.0.6:50051");
    cli_cfg_free(&c);
    free(out2);
    free(out);
}

static void test_edit_set_continuations(void **state)
{
    /* inih reads an indented line after a setting as its continuation: a
     * replaced value must not keep one */
    static const char text[] = "[a]\naddr = old:1\n  more:2\ninsecure = true\n";
    const char *v[CLI_CFG_NKEYS] = {0};
    char *out;
    cli_cfg c;

    (void)state;
    v[CLI_CFG_ADDR] = "new:3";
    out = set(text, "a", v, 0);
    assert_string_equal(out, "[a]\naddr = new:3\ninsecure = true\n");
    parse_ok(out, &c);
    assert_string_equal(cli_cfg_find(&c, "a")->values[CLI_CFG_ADDR], "new:3");
    cli_cfg_free(&c);
    free(out);
}

static void test_edit_refusals(void **state)
{
    const char *v[CLI_CFG_NKEYS] = {0};
    char err[256], *out = (char *)1;

    (void)state;
    v[CLI_CFG_TOKEN_FILE] = "my file ;x";
    assert_int_equal(cli_cfg_edit_set(SAMPLE, "a", v, 0, &out, err, sizeof err), -1);
    assert_null(out);
    assert_non_null(strstr(err, "would start a comment"));
    v[CLI_CFG_TOKEN_FILE] = "two\nlines";
    assert_int_equal(cli_cfg_edit_set(SAMPLE, "a", v, 0, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "control character"));
    v[CLI_CFG_TOKEN_FILE] = "ok";
    assert_int_equal(cli_cfg_edit_set(SAMPLE, "bad name", v, 0, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a context name"));
    /* a file that does not parse is not edited */
    assert_int_equal(cli_cfg_edit_set("[a]\ncolour = red\n", "a", v, 0, &out, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "fix the config file first"));
    assert_int_equal(cli_cfg_edit_default("[a]\ncolour = red\n", "a", &out, err, sizeof err), -1);
    {
        char long_value[300];
        memset(long_value, 'x', sizeof long_value - 1);
        long_value[sizeof long_value - 1] = '\0';
        v[CLI_CFG_TOKEN_FILE] = long_value;
        assert_int_equal(cli_cfg_edit_set(SAMPLE, "a", v, 0, &out, err, sizeof err), -1);
        assert_non_null(strstr(err, "longer than a config line"));
    }
}

static void test_edit_default(void **state)
{
    char err[256], *out;
    cli_cfg c;

    (void)state;
    assert_int_equal(cli_cfg_edit_default(SAMPLE, "local-admin", &out, err, sizeof err), 0);
    assert_non_null(strstr(out, "context = local-admin          # the default\n"));
    assert_int_equal(strlen(out), strlen(SAMPLE) + strlen("-admin"));
    free(out);
    /* none yet: before the first section and the comment above it */
    assert_int_equal(cli_cfg_edit_default("# mine\n\n# prod servers\n[prod]\naddr = h:1\n",
                                          "prod", &out, err, sizeof err), 0);
    assert_string_equal(out, "# mine\n\ncontext = prod\n# prod servers\n[prod]\naddr = h:1\n");
    parse_ok(out, &c);
    assert_string_equal(c.default_context, "prod");
    cli_cfg_free(&c);
    free(out);
    assert_int_equal(cli_cfg_edit_default("", "x", &out, err, sizeof err), 0);
    assert_string_equal(out, "context = x\n");
    free(out);
}

static void test_write(void **state)
{
    char dir[] = "/tmp/test_cli_config.XXXXXX", path[256], link[256], err[256], buf[64];
    struct stat st;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sub/tallinn/config", dir);
    assert_int_equal(cli_cfg_write(path, "context = a\n", err, sizeof err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(buf, sizeof buf, "%s/sub/tallinn", dir);
    assert_int_equal(stat(buf, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* through a symlink: the target changes, the link stays */
    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink(path, link), 0);
    if (cli_cfg_write(link, "context = b\n", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "context = b\n");
    unlink(link);
    unlink(path);
    snprintf(buf, sizeof buf, "%s/sub/tallinn", dir);
    rmdir(buf);
    snprintf(buf, sizeof buf, "%s/sub", dir);
    rmdir(buf);
    assert_int_equal(rmdir(dir), 0); /* no temporary file left behind */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_abs_path_and_names),
        cmocka_unit_test(test_edit_set_existing),
        cmocka_unit_test(test_edit_set_new_section),
        cmocka_unit_test(test_edit_set_continuations),
        cmocka_unit_test(test_edit_refusals),
        cmocka_unit_test(test_edit_default),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests_name("cli_config", tests, NULL, NULL);
}
