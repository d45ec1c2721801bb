# integration.evidence: delivery evidence through the API and tallinnctl
# --evidence (recorded in the match and the audit log, hostile input, the
# audit record's bound, need-to-know).
tallinn_server_test(evidence TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/evidence_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl>)
