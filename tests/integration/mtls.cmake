# integration.mtls: client certificates made at test time with openssl mapped to
# principals, an unknown CA, a disabled principal, plaintext refusals.
tallinn_server_test(mtls TIMEOUT 120
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/mtls_test.py
                 $<TARGET_FILE:tallinnd>
  LABELS authz)
