# Writes INPUT into OUTPUT as `inline constexpr char SYMBOL[]`, a raw string literal.
file(READ ${INPUT} CONTENT)
string(FIND "${CONTENT}" ")KILN_EMBED\"" CLASH)
if(NOT CLASH EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE ${OUTPUT} "// Generated from ${INPUT}; do not edit.\n#pragma once\n"
  "inline constexpr char ${SYMBOL}[] = R\"KILN_EMBED(${CONTENT})KILN_EMBED\";\n")
