# Writes a C++ source file that holds a data file's bytes as a string, so the library finds its
# default data (the price table) without depending on where it is installed.
file(READ ${INPUT} _content HEX)
string(LENGTH "${_content}" _hexlen)
math(EXPR _len "${_hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," _bytes "${_content}")
file(WRITE ${OUTPUT}
  "// Generated from data/${NAME}.json by cmake/EmbedData.cmake. Do not edit.\n"
  "#include <string_view>\n"
  "namespace chorus::data {\n"
  "namespace { constexpr char bytes[] = {${_bytes} '\\0'}; }\n"
  "std::string_view ${NAME}_json() noexcept { return {bytes, ${_len}}; }\n"
  "}  // namespace chorus::data\n")
