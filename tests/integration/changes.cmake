# integration.changes: ChangeService (WatchChanges, ListHistory) against a real
# tallinnd from python3-grpcio: commit order, exact resumption (also across a
# restart), need-to-know per role as "the feed applied equals the lists",
# tombstones, recorded RESTRICTED reads, live watchers, the stream budget,
# draining, history entries with their records and inclusion proofs, two
# tallinnd on one database (tests/integration/changes_test.py). On both
# engines: integration.changes.pg runs it on PostgreSQL (the `pg` fixture).
tallinn_server_test(changes TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/changes_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl>)
