# docs/authz.md must hold exactly the matrix the code enforces.
add_test(NAME docs.authz_matrix
         COMMAND sh -c "\"$1\" authz-matrix > \"$3/authz-matrix.md\" && sed -n '/^| method |/,$p' \"$2\" | diff -u \"$3/authz-matrix.md\" - || { echo 'docs/authz.md differs from `tallinnd authz-matrix`: regenerate its table'; exit 1; }"
                 sh $<TARGET_FILE:tallinnd> ${CMAKE_SOURCE_DIR}/docs/authz.md ${CMAKE_CURRENT_BINARY_DIR})
