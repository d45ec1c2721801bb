# tallinn_witness_client: the log's side of C2SP tlog-witness over HTTP(S)
# (libcurl), for tallinn-audit's `witness cosign` and the server. Separate
# from tallinn_tlog so that the formats stay free of network libraries.
add_library(tallinn_witness_client STATIC ${CMAKE_CURRENT_LIST_DIR}/witness_client.c)
set_target_properties(tallinn_witness_client PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_link_libraries(tallinn_witness_client PUBLIC tallinn_tlog PkgConfig::CURL Threads::Threads)
