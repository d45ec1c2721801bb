# integration.systemd: Type=notify against a fake NOTIFY_SOCKET, and the
# unit's --listen [::] serving IPv4 and IPv6 (in a private network namespace).
add_test(NAME integration.systemd
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/systemd_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.systemd PROPERTIES TIMEOUT 180)
