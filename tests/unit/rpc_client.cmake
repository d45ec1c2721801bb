# Unit tests of the client runtime (tallinn_rpc_client) that need no server.
tallinn_unit_test(rpc_client tallinn_rpc_client)
