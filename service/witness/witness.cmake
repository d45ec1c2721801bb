# The log's side of C2SP tlog-witness in tallinnd: configured witnesses, a
# sender thread per witness (libcurl via tallinn_witness_client), and the
# checkpoints with their cosignatures as GetCheckpoint and exports serve them.
add_library(tallinn_witnesses STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/witness/witnesses.c
  ${CMAKE_CURRENT_SOURCE_DIR}/witness/witness_sender.c
  ${CMAKE_CURRENT_SOURCE_DIR}/witness/witness_notes.c
  ${CMAKE_CURRENT_SOURCE_DIR}/witness/witness_config.c)
target_include_directories(tallinn_witnesses PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_witnesses PUBLIC tallinn_audit tallinn_store tallinn_tlog tallinn_slog
                      tallinn_witness_client PkgConfig::CURL PkgConfig::INIH Threads::Threads)
