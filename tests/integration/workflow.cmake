# The Tallinn Mechanism API end to end against a real tallinnd: donors and
# pledges, the need and match workflows and their guards, paging, filters,
# idempotency, etags, validation and the coverage report (python3-grpcio).
tallinn_server_test(workflow TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/workflow_test.py
                 $<TARGET_FILE:tallinnd>)
