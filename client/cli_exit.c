/* cli_exit.c — the exit status both command-line tools give a gRPC status,
 * so "3" means "could not reach the server" in tallinnctl and tallinn-audit
 * alike (cli.h lists the scheme). */
#include "cli.h"

int cli_exit_for_status(grpc_status_code code, int other)
{
    switch (code) {
    case GRPC_STATUS_OK:
        return CLI_EXIT_OK;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return CLI_EXIT_UNREACHABLE;
    case GRPC_STATUS_NOT_FOUND:
        return CLI_EXIT_NOT_FOUND;
    case GRPC_STATUS_PERMISSION_DENIED:
    case GRPC_STATUS_UNAUTHENTICATED:
        return CLI_EXIT_DENIED;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_OUT_OF_RANGE:
        return CLI_EXIT_INVALID;
    case GRPC_STATUS_ALREADY_EXISTS:
    case GRPC_STATUS_ABORTED:
        return CLI_EXIT_CONFLICT;
    default:
        return other;
    }
}
