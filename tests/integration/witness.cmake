# Witnesses (tests/integration/witness_test.py): `tallinn-audit witness`
# serving over HTTP, every add-checkpoint status code checked from Python,
# state across restarts and a SIGKILL between storing and answering, a split
# view, and three witnesses with a quorum of two while one is down.
# python3-nacl checks every cosignature independently of lib/cosig.c.
add_test(NAME integration.witness
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/witness_test.py
                 $<TARGET_FILE:tallinn-audit> $<TARGET_FILE:audit_mklog>)
set_tests_properties(integration.witness PROPERTIES TIMEOUT 300 LABELS audit)
