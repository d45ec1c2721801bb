# integration.export: `tallinnctl export csv` (every kind, as BACK_OFFICE,
# DONOR, OBSERVER and ADMIN, parsed with Python's csv module) and `export
# iati` (validated against the IATI 2.03 schema with xmllint, codes against
# tests/data/iati-2.03's code lists, no RESTRICTED text), bad input.
tallinn_server_test(export TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/export_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl>)
