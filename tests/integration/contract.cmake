# The contract in the .proto comments (issue 10, item 6): immutable and
# output-only fields, update_mask rules and every life-cycle arrow, read from
# proto/tallinn/v1/*.proto and tried against a real tallinnd.
tallinn_server_test(contract TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/contract_test.py
                 $<TARGET_FILE:tallinnd>
  LABELS contract)
