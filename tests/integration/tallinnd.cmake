# tallinnd's transport behaviour, driven by python3-grpcio (an independent stack).
tallinn_server_test(tallinnd TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/tallinnd_test.py
                 $<TARGET_FILE:tallinnd>)
