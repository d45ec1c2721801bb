/* ctl_info.c — what the server and the caller are: `health` (the standard
 * gRPC health service, the server or one service), `version` (this client's
 * and the server's, GetServerInfo) and `whoami` (the principal the
 * credentials stand for, GetCaller, with the context and address used). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "grpc/health/v1/health.pb-c.h"
#include "tallinn/pbjson.h"
#include "tallinn/v1/diagnostics.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"

#ifndef TALLINN_VERSION
#define TALLINN_VERSION "unknown"
#endif

#define CTL_HEALTH_CHECK "/grpc.health.v1.Health/Check"

static void ctl_print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2));

    if (text != NULL)
        puts(text);
    free(text);
    json_decref(j);
}

/* ---- health ---- */

int ctl_run_health(ctl_ctx *ctx, int argc, char **argv)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    const Grpc__Health__V1__HealthCheckResponse *resp;
    const ProtobufCEnumValue *v;
    ProtobufCMessage *out = NULL;
    rpcc_result result = {0};
    rpcc_call_options opts = ctl_call_options(ctx);
    rpcc_channel *ch;
    char unknown[32];
    const char *name;
    int rc;

    req.service = argc > 0 ? argv[0] : "";
    if ((ch = ctl_channel(ctx)) == NULL)
        return CTL_EXIT_FAILURE;
    if (rpcc_unary(ch, CTL_HEALTH_CHECK, &req.base,
                   &grpc__health__v1__health_check_response__descriptor, &opts, &out,
                   &result) != GRPC_STATUS_OK) {
        rc = ctl_call_failed(ctx, "health check", &result);
        goto done;
    }
    resp = (const Grpc__Health__V1__HealthCheckResponse *)out;
    v = protobuf_c_enum_descriptor_get_value(
        &grpc__health__v1__health_check_response__serving_status__descriptor, resp->status);
    if (v != NULL) {
        name = v->name;
    } else {
        snprintf(unknown, sizeof unknown, "%d", (int)resp->status);
        name = unknown; /* proto3 JSON writes unknown enum values as numbers */
    }
    if (ctx->format == CTL_FORMAT_JSON) {
        /* proto3 JSON of HealthCheckResponse: the enum's name, or its number */
        json_t *j = json_object();
        char *text;
        json_object_set_new(j, "status", v != NULL ? json_string(name) : json_integer(resp->status));
        text = json_dumps(j, 0);
        if (text != NULL)
            puts(text);
        free(text);
        json_decref(j);
    } else {
        printf("%s\n", name);
    }
    rc = resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
             ? CTL_EXIT_OK
             : CTL_EXIT_FAILURE;
done:
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    rpcc_result_free(&result);
    return rc;
}

/* ---- version ---- */

void ctl_print_client_version(FILE *out)
{
    fprintf(out, CTL_PROG " %s\n", TALLINN_VERSION);
}

int ctl_run_version(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__GetServerInfoRequest req = TALLINN__V1__GET_SERVER_INFO_REQUEST__INIT;
    const Tallinn__V1__ServerInfo *info;
    ProtobufCMessage *out = NULL;
    rpcc_result result = {0};
    int rc = CTL_EXIT_OK;

    (void)argc;
    (void)argv;
    if (ctl_unary(ctx, "/tallinn.v1.DiagnosticsService/GetServerInfo", &req.base,
                  &tallinn__v1__server_info__descriptor, &out, &result) != GRPC_STATUS_OK) {
        if (ctx->format != CTL_FORMAT_JSON)
            printf("client: %s\n", TALLINN_VERSION);
        rc = ctl_call_failed(ctx, "server version", &result);
        goto done;
    }
    info = (const Tallinn__V1__ServerInfo *)out;
    if (ctx->format == CTL_FORMAT_JSON) {
        json_t *j = json_object();
        json_object_set_new(j, "client", json_string(TALLINN_VERSION));
        json_object_set_new(j, "server", json_string(info->version));
        json_object_set_new(j, "addr", json_string(ctx->addr));
        json_object_set_new(j, "accountingCurrency", json_string(info->accounting_currency));
        json_object_set_new(j, "auditOrigin", json_string(info->audit_origin));
        ctl_print_json(j);
    } else {
        printf("client: %s\nserver: %s (%s)\naccounting currency: %s\naudit origin: %s\n",
               TALLINN_VERSION, info->version, ctx->addr, info->accounting_currency,
               info->audit_origin);
    }
done:
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    rpcc_result_free(&result);
    return rc;
}

/* ---- whoami ---- */

/* Where the settings came from: "local (/path/tallinnctl.conf)", or that no
 * context is in use. */
static void ctl_context_text(const ctl_ctx *ctx, char *buf, size_t len)
{
    if (ctx->context_name != NULL)
        snprintf(buf, len, "%s (%s)", ctx->context_name, ctx->config_path);
    else if (ctx->config_path != NULL)
        snprintf(buf, len, "none (%s names no default; flags and environment only)",
                 ctx->config_path);
    else
        snprintf(buf, len, "none (no config file; flags and environment only)");
}

int ctl_run_whoami(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__GetCallerRequest req = TALLINN__V1__GET_CALLER_REQUEST__INIT;
    const Tallinn__V1__Caller *who;
    ProtobufCMessage *out = NULL;
    rpcc_result result = {0};
    char where[600], role[64], err[PBJSON_ERROR_MAX];
    int rc = CTL_EXIT_OK;

    (void)argc;
    (void)argv;
    ctl_context_text(ctx, where, sizeof where);
    if (ctl_unary(ctx, "/tallinn.v1.DiagnosticsService/GetCaller", &req.base,
                  &tallinn__v1__caller__descriptor, &out, &result) != GRPC_STATUS_OK) {
        if (result.code == GRPC_STATUS_UNIMPLEMENTED) {
            rc = ctl_fail("whoami: the server at %s does not say who calls (an older tallinnd: "
                          "DiagnosticsService.GetCaller is UNIMPLEMENTED there); context: %s",
                          ctx->addr, where);
        } else {
            rc = ctl_call_failed(ctx, "whoami", &result);
            if (result.code == GRPC_STATUS_UNAUTHENTICATED)
                fprintf(stderr, CTL_PROG ": context: %s; server: %s\n", where, ctx->addr);
        }
        goto done;
    }
    who = (const Tallinn__V1__Caller *)out;
    ctl_enum_short(&tallinn__v1__principal__role__descriptor, who->role, role, sizeof role);
    if (ctx->format == CTL_FORMAT_JSON) {
        json_t *j = NULL;
        if (pbjson_to_json(out, 0, &j, err, sizeof err) != 0) {
            rc = ctl_fail("cannot write JSON: %s", err);
            goto done;
        }
        json_object_set_new(j, "context", ctx->context_name != NULL
                                              ? json_string(ctx->context_name)
                                              : json_null());
        json_object_set_new(j, "configFile", ctx->config_path != NULL
                                                 ? json_string(ctx->config_path)
                                                 : json_null());
        json_object_set_new(j, "addr", json_string(ctx->addr));
        ctl_print_json(j);
    } else {
        printf("Principal:     %s\n", who->principal);
        printf("Display name:  %s\n", who->display_name);
        printf("Role:          %s\n", role);
        if (who->donor != NULL && who->donor[0] != '\0')
            printf("Donor:         %s\n", who->donor);
        printf("Context:       %s\n", where);
        printf("Server:        %s\n", ctx->addr);
    }
done:
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    rpcc_result_free(&result);
    return rc;
}
