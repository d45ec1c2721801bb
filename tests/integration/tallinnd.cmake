# tallinnd's transport behaviour, driven by python3-grpcio (an independent stack).
add_test(NAME integration.tallinnd
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/tallinnd_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.tallinnd PROPERTIES TIMEOUT 180)
