# What tallinnd binds and holds: loopback-only plaintext checked on the
# resolved and bound addresses, a port never shared, one server per data
# directory, and no durable write on the read path.
tallinn_server_test(transport TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/transport_test.py
                 $<TARGET_FILE:tallinnd>)
