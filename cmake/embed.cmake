# Writes a file's bytes as a C array, so a binary needs no data file beside it:
#   cmake -DIN=file -DOUT=out.c -DNAME=symbol -P embed.cmake
# defines `const uint8_t NAME[]` and `const size_t NAME_len`.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR len "${digits} / 2")
if(len EQUAL 0)
  message(FATAL_ERROR "embed: ${IN} is empty")
endif()
# Eight bytes per line keeps the generated file readable in a diff or a debugger.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT}.tmp
  "/* Generated from ${IN} by cmake/embed.cmake. Do not edit. */\n"
  "#include <stddef.h>\n#include <stdint.h>\n\n"
  "const uint8_t ${NAME}[] = {\n${bytes}\n};\n"
  "const size_t ${NAME}_len = ${len};\n")
file(RENAME ${OUT}.tmp ${OUT})
