# integration.makerun: scripts/run (make run) beside an existing user config:
# DATA/tallinnctl.conf, the printed next steps, every demo role's context.
add_test(NAME integration.makerun
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/makerun_test.py
                 ${CMAKE_BINARY_DIR})
set_tests_properties(integration.makerun PROPERTIES TIMEOUT 300)
