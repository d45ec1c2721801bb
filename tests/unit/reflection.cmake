# unit.reflection: the reflection index (service/rpc/reflection_index.c).
tallinn_unit_test(reflection tallinn_rpc)
target_include_directories(test_reflection PRIVATE ${CMAKE_SOURCE_DIR}/service)
