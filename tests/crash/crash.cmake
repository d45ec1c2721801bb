# The crash test's short form (make test); `make crash` runs the long one.
add_test(NAME crash.short
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/crash/crash_test.py
                 $<TARGET_FILE:tallinnd> --rounds 3)
set_tests_properties(crash.short PROPERTIES TIMEOUT 240 LABELS crash)
