/* ctl_evidence.c — the documents tallinnctl cites with a delivery step
 * (matches delivered|accept|reject-delivery --evidence FILE...): each file
 * is hashed here with libsodium's SHA-256 and typed by libmagic from its
 * content; only the digest, the file's base name and the media type are
 * sent. The file never leaves the machine. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <magic.h>
#include <sodium.h>

#include "ctl.h"
#include "tallinn/v1/match.pb-c.h"

#define CTL_READ_CHUNK 65536

/* SHA-256 of the open file, streamed (a file of any size), as hex. */
static int hash_file(int fd, const char *path, char hex[crypto_hash_sha256_BYTES * 2 + 1])
{
    crypto_hash_sha256_state st;
    unsigned char buf[CTL_READ_CHUNK], out[crypto_hash_sha256_BYTES];
    ssize_t n;

    crypto_hash_sha256_init(&st);
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ctl_fail("cannot read %s: %s", path, strerror(errno));
        }
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
    }
    crypto_hash_sha256_final(&st, out);
    sodium_bin2hex(hex, crypto_hash_sha256_BYTES * 2 + 1, out, sizeof out);
    return 0;
}

/* libmagic's media type of the file's content ("application/pdf"); NULL if
 * it has none to give (the caller sends application/octet-stream). */
static char *media_type(magic_t mg, int fd)
{
    const char *t;

    if (mg == NULL || lseek(fd, 0, SEEK_SET) != 0 || (t = magic_descriptor(mg, fd)) == NULL)
        return NULL;
    return strdup(t);
}

static Tallinn__V1__DeliveryDocument *document(magic_t mg, const char *path)
{
    Tallinn__V1__DeliveryDocument *d = NULL;
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    const char *base = strrchr(path, '/');
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        ctl_fail("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ctl_fail("%s is not a regular file: --evidence takes documents", path);
        goto done;
    }
    if (hash_file(fd, path, hex) != 0)
        goto done;
    if ((d = malloc(sizeof(*d))) == NULL) {
        ctl_fail("out of memory");
        goto done;
    }
    tallinn__v1__delivery_document__init(d);
    d->sha256 = strdup(hex);
    d->name = strdup(base != NULL ? base + 1 : path);
    if ((d->media_type = media_type(mg, fd)) == NULL) {
        fprintf(stderr, CTL_PROG ": %s: no media type known for its content; sending "
                                 "application/octet-stream\n", path);
        d->media_type = strdup("application/octet-stream");
    }
    if (d->sha256 == NULL || d->name == NULL || d->media_type == NULL) {
        protobuf_c_message_free_unpacked(&d->base, NULL);
        d = NULL;
        ctl_fail("out of memory");
    }
done:
    close(fd);
    return d;
}

int ctl_evidence_attach(ctl_ctx *ctx, ProtobufCMessage *req, char **extra, int n_extra)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "documents");
    const char *files[CTL_EVIDENCE_MAX + 1];
    const char *note = ctl_option_value(ctx, "note");
    size_t n = ctl_option_values(ctx, "evidence", files, CTL_EVIDENCE_MAX + 1), total;
    Tallinn__V1__DeliveryDocument **docs;
    magic_t mg;

    if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED)
        return n > 0 || n_extra > 0 ? ctl_usage_error(ctx->cmd, "this step takes no evidence")
                                    : 0;
    if (note != NULL)
        ctl_msg_set_string(req, "note", note);
    if (n == 0 && n_extra > 0)
        return ctl_usage_error(ctx->cmd, "unexpected argument \"%s\"", extra[0]);
    total = n + (size_t)n_extra;
    if (total == 0)
        return 0;
    if (total > CTL_EVIDENCE_MAX)
        return ctl_usage_error(ctx->cmd, "at most %d --evidence documents per step, got %zu",
                               CTL_EVIDENCE_MAX, total);
    for (int i = 0; i < n_extra; i++)
        files[n + (size_t)i] = extra[i];
    if ((docs = calloc(total, sizeof(*docs))) == NULL)
        return ctl_fail("out of memory");
    /* MAGIC_MIME_TYPE: "type/subtype" only, no "; charset=". */
    mg = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (mg != NULL && magic_load(mg, NULL) != 0) {
        fprintf(stderr, CTL_PROG ": libmagic: %s\n", magic_error(mg));
        magic_close(mg);
        mg = NULL;
    }
    for (size_t i = 0; i < total; i++)
        if ((docs[i] = document(mg, files[i])) == NULL) {
            for (size_t k = 0; k < i; k++)
                protobuf_c_message_free_unpacked(&docs[k]->base, NULL);
            free(docs);
            if (mg != NULL)
                magic_close(mg);
            return CTL_EXIT_FAILURE;
        }
    if (mg != NULL)
        magic_close(mg);
    /* the request owns them now (freed with it) */
    *(size_t *)((char *)req + f->quantifier_offset) = total;
    *(Tallinn__V1__DeliveryDocument ***)((char *)req + f->offset) = docs;
    return 0;
}
