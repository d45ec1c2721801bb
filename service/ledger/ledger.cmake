# The ledger: exact money sums across resources (a need's committed and
# delivered amounts, a pledge's allocation, the approval guards, the coverage
# report), over the store; no RPC.
add_library(tallinn_ledger STATIC ${CMAKE_CURRENT_SOURCE_DIR}/ledger/ledger.c
            ${CMAKE_CURRENT_SOURCE_DIR}/ledger/convert.c ${CMAKE_CURRENT_SOURCE_DIR}/ledger/report.c)
target_include_directories(tallinn_ledger PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_ledger PUBLIC tallinn_store tallinn_proto)
