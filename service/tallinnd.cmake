# tallinnd, the server.
add_executable(tallinnd ${CMAKE_CURRENT_SOURCE_DIR}/tallinnd_main.c)
target_link_libraries(tallinnd PRIVATE tallinn_rpc PkgConfig::SODIUM)
