# tallinnd asks witnesses (tests/integration/witness_server_test.py): a real
# tallinnd with three `tallinn-audit witness serve` on loopback (one that does
# not know the log): cosignatures arrive and are kept in the database,
# GetCheckpoint's quorum, verify --server --quorum 2, an export that keeps
# them, a refusal logged, a witness down blocks no write, a restart.
tallinn_server_test(witness_server TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/witness_server_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinn-audit>
                 ${CMAKE_BINARY_DIR}/bin/tallinnctl
  LABELS audit)
