# integration.secrets: no token in the server log, in errors or in any byte of
# the data directory; admin.token is 0600 and the admin token's only home.
tallinn_server_test(secrets TIMEOUT 120
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/secrets_test.py
                 $<TARGET_FILE:tallinnd>
  LABELS authz)
