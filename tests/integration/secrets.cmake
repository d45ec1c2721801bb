# integration.secrets: no token in the server log, in errors or in any byte of
# the data directory; admin.token is 0600 and the admin token's only home.
add_test(NAME integration.secrets
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/secrets_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.secrets PROPERTIES TIMEOUT 120 LABELS authz)
