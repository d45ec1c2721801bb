# Storage: store.h's SQLite engine.
add_library(tallinn_store STATIC ${CMAKE_CURRENT_SOURCE_DIR}/store/store.c)
target_include_directories(tallinn_store PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(tallinn_store PUBLIC tallinn_proto tallinn_api PkgConfig::SQLITE Threads::Threads)
