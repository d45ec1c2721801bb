# The RPC runtime's text check of request wire bytes (rpc_wire.c).
tallinn_unit_test(rpc_wire tallinn_rpc)
