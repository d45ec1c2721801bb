# Text at the edge (issue 10, item 7): NUL and invalid UTF-8 in every string
# field of every request refused before any handler runs; request_id
# compared in lower case (python3-grpcio against a real tallinnd).
tallinn_server_test(text TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/text_test.py
                 $<TARGET_FILE:tallinnd>)
