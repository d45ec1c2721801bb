# The Tallinn Mechanism API end to end against a real tallinnd: donors and
# pledges, the need and match workflows and their guards, paging, filters,
# idempotency, etags, validation and the coverage report (python3-grpcio).
add_test(NAME integration.workflow
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/workflow_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.workflow PROPERTIES TIMEOUT 300)
