# Fuzzing (docs/fuzzing.md). With clang and -DTALLINN_FUZZ=ON this build holds
# the libFuzzer targets (tests/fuzz/fuzz.cmake) and one short ctest per target.
# Any other build (the gcc build of `make test`) registers one ctest,
# fuzz.short, that configures and builds a separate clang fuzz build and runs
# every target for FUZZ_SECONDS (default 20) after replaying its regressions.
option(TALLINN_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)

if(TALLINN_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  include(${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz.cmake)
elseif(TALLINN_FUZZ)
  message(WARNING "TALLINN_FUZZ needs clang (libFuzzer); ${CMAKE_C_COMPILER_ID} found: no fuzz targets")
else()
  find_program(TALLINN_CLANG NAMES clang clang-14)
  find_program(TALLINN_FUZZ_BASH bash)
  if(TALLINN_CLANG AND TALLINN_FUZZ_BASH)
    add_test(NAME fuzz.short
             COMMAND ${TALLINN_FUZZ_BASH} ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh
                     --build ${CMAKE_BINARY_DIR}/fuzz-build --cc ${TALLINN_CLANG} --seconds 20)
    set_tests_properties(fuzz.short PROPERTIES TIMEOUT 1500 LABELS fuzz)
  else()
    message(STATUS "clang not found: fuzz.short is not registered")
  endif()
endif()
