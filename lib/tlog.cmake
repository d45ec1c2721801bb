# tallinn_tlog: transparency-log formats shared by the server and the tools —
# Merkle tree, signed notes, checkpoints, tlog-tiles, tlog-proof files,
# witness cosignatures and the tlog-witness rules, and the escaping of
# untrusted text for records and terminals (textsafe).
add_library(tallinn_tlog STATIC
  ${CMAKE_CURRENT_LIST_DIR}/merkle.c
  ${CMAKE_CURRENT_LIST_DIR}/note.c
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint.c
  ${CMAKE_CURRENT_LIST_DIR}/tiles.c
  ${CMAKE_CURRENT_LIST_DIR}/tlogproof.c
  ${CMAKE_CURRENT_LIST_DIR}/cosig.c
  ${CMAKE_CURRENT_LIST_DIR}/tlogwitness.c
  ${CMAKE_CURRENT_LIST_DIR}/tlog_util.c
  ${CMAKE_CURRENT_LIST_DIR}/textsafe.c)
set_target_properties(tallinn_tlog PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(tallinn_tlog PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(tallinn_tlog PUBLIC PkgConfig::SODIUM)
