# integration.ctl_staff: what staff reach for at the command line — contexts
# made and switched by tallinnctl, whoami, versions, did you mean, CSV, the
# pager, audit key, money input, display widths, server hints, and
# tallinn-audit on the same contexts (tests/integration/ctl_staff_test.py).
tallinn_server_test(ctl_staff TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/ctl_staff_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl> $<TARGET_FILE:tallinn-audit>)
