# contract.buf_breaking: the contract (proto/tallinn/v1) breaks no client
# generated from the last released one (proto/released/), under buf's FILE
# rules. contract.buf_breaking_bites: the check fails on a removed, renamed
# or retyped field, a removed rpc and a message moved between files, and
# passes a new field, each on a copy of the contract.
find_program(TALLINN_SH sh REQUIRED)
add_test(NAME contract.buf_breaking
         COMMAND ${TALLINN_SH} ${CMAKE_SOURCE_DIR}/scripts/buf-breaking
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
add_test(NAME contract.buf_breaking_bites
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/buf_breaking_test.py)
set_tests_properties(contract.buf_breaking contract.buf_breaking_bites PROPERTIES
                     TIMEOUT 300 LABELS contract RESOURCE_LOCK buf)
