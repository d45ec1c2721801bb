# contract.buf_lint: the API contract (proto/) is clean under the pinned buf,
# STANDARD + COMMENTS rules (proto/buf.yaml). The first run installs buf from
# npm into build/tools/buf, hence the generous timeout; the buf tests share
# that install, so they hold one lock.
find_program(TALLINN_SH sh REQUIRED)
add_test(NAME contract.buf_lint
         COMMAND ${TALLINN_SH} ${CMAKE_SOURCE_DIR}/scripts/buf-lint
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(contract.buf_lint PROPERTIES TIMEOUT 300 LABELS contract RESOURCE_LOCK buf)
