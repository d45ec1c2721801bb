/* rpc_stats.c — what the runtime counts, read for scrapes: the per-method
 * counters kept where each call ends (rpc_call.c), and the open connections,
 * which only the gRPC core knows (its channelz registry, read as JSON). */
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <jansson.h>

#include "rpc_internal.h"

size_t rpc_server_method_count(const rpc_server *srv)
{
    return srv->n_methods;
}

const rpc_method_stats *rpc_server_method_stats(const rpc_server *srv, size_t i,
                                                const char **path)
{
    if (i < srv->n_methods) {
        *path = srv->methods[i]->info.path;
        return &srv->methods[i]->stats;
    }
    if (i == srv->n_methods) {
        *path = "";
        return &srv->unknown_stats;
    }
    return NULL;
}

/* The channelz id of our server: the process has one grpc_server. */
static long long channelz_server_id(void)
{
    char *text = grpc_channelz_get_servers(0);
    json_t *root = text != NULL ? json_loads(text, 0, NULL) : NULL;
    json_t *servers = json_object_get(root, "server");
    long long id = -1;

    if (json_array_size(servers) == 1) {
        const char *s = json_string_value(
            json_object_get(json_object_get(json_array_get(servers, 0), "ref"), "serverId"));
        if (s != NULL)
            id = strtoll(s, NULL, 10); /* int64 ids are strings in proto3 JSON */
    }
    json_decref(root);
    gpr_free(text);
    return id;
}

long rpc_server_connections(const rpc_server *srv)
{
    long long id, start = 0;
    long n = 0;
    int end = 0;

    int started;

    pthread_mutex_lock((pthread_mutex_t *)&srv->mu);
    started = srv->started && !srv->stopped;
    pthread_mutex_unlock((pthread_mutex_t *)&srv->mu);
    if (srv->server == NULL || !started || (id = channelz_server_id()) < 0)
        return -1;
    /* Pages of sockets, each starting after the last id seen; bounded. */
    for (int page = 0; !end && page < 1000; page++) {
        char *text = grpc_channelz_get_server_sockets((intptr_t)id, (intptr_t)start, 500);
        json_t *root = text != NULL ? json_loads(text, 0, NULL) : NULL;
        json_t *refs = json_object_get(root, "socketRef");
        size_t i;
        json_t *ref;

        gpr_free(text);
        if (root == NULL) {
            n = -1;
            break;
        }
        end = json_is_true(json_object_get(root, "end")) || json_array_size(refs) == 0;
        json_array_foreach(refs, i, ref) {
            const char *s = json_string_value(json_object_get(ref, "socketId"));
            long long sid = s != NULL ? strtoll(s, NULL, 10) : 0;
            n++;
            if (sid >= start)
                start = sid + 1;
        }
        json_decref(root);
    }
    return n;
}
