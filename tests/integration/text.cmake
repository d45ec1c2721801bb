# Text at the edge (issue 10, item 7): NUL and invalid UTF-8 in every string
# field of every request refused before any handler runs; request_id
# compared in lower case (python3-grpcio against a real tallinnd).
add_test(NAME integration.text
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/text_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.text PROPERTIES TIMEOUT 300)
