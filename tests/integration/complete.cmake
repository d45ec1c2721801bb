# integration.complete: resource ids and context names completed by the hidden
# `tallinnctl __complete` against a real server, silent and bounded on errors,
# and through the bash and fish scripts.
tallinn_server_test(complete TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/complete_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl> ${CMAKE_BINARY_DIR})
