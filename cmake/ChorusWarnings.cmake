# Warnings for Chorus's own targets only: Boost and the other dependencies come from
# system include directories, whose warnings the compiler already suppresses.
function(chorus_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CHORUS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
