add_test(NAME integration.hostile
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/hostile_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.hostile PROPERTIES TIMEOUT 300)
