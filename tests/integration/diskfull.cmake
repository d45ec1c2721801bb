add_test(NAME integration.diskfull
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/diskfull_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.diskfull PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
