# integration.changes: ChangeService (WatchChanges, ListHistory) against a real
# tallinnd from python3-grpcio: commit order, exact resumption (also across a
# restart), need-to-know per role as "the feed applied equals the lists",
# tombstones, recorded RESTRICTED reads, live watchers, the stream budget,
# draining, history entries with their records and inclusion proofs
# (tests/integration/changes_test.py).
add_test(NAME integration.changes
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/changes_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl>)
set_tests_properties(integration.changes PROPERTIES TIMEOUT 240)
