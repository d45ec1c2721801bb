# Request logic that needs no server: validation, AIP-160 filters and
# order_by, authenticated page tokens, the caseless form search compares.
# Pure C plus libsodium and ICU (Unicode's case folding and normalisation).
add_library(tallinn_api STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/request/validate.c
  ${CMAKE_CURRENT_SOURCE_DIR}/request/currency.c
  ${CMAKE_CURRENT_SOURCE_DIR}/request/filter.c
  ${CMAKE_CURRENT_SOURCE_DIR}/request/pagetoken.c
  ${CMAKE_CURRENT_SOURCE_DIR}/request/textfold.c
  ${CMAKE_CURRENT_SOURCE_DIR}/request/evidence.c)
target_include_directories(tallinn_api PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(tallinn_api PUBLIC tallinn_tlog PkgConfig::SODIUM PkgConfig::ICU)
set_target_properties(tallinn_api PROPERTIES POSITION_INDEPENDENT_CODE ON)
