# integration.mtls: client certificates made at test time with openssl mapped to
# principals, an unknown CA, a disabled principal, plaintext refusals.
add_test(NAME integration.mtls
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/mtls_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.mtls PROPERTIES TIMEOUT 120 LABELS authz)
