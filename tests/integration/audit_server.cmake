# The audit log of a real tallinnd: expected records after a workflow, an
# export verified offline, tallinn-audit verify --server with its state,
# every proof against the signed checkpoints, and tampering with the SQLite
# file (python3-grpcio, python3-nacl, sqlite3).
tallinn_server_test(audit_server TIMEOUT 240
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/audit_server_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinn-audit>
                 ${CMAKE_BINARY_DIR}/bin/tallinnctl
  LABELS audit)
