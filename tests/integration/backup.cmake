add_test(NAME integration.backup
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/backup_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.backup PROPERTIES TIMEOUT 180)
