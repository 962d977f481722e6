# Warnings for Chorus's own targets only: Boost and the other dependencies come from
# system include directories, whose warnings the compiler already suppresses.
function(chorus_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 false positives at -O2 inside libstdc++ (-Wrestrict on std::string copies) and in
    # coroutine frames (-Wmismatched-new-delete on the frame allocation): not our code, not real.
    target_compile_options(${target} PRIVATE -Wno-restrict -Wno-mismatched-new-delete)
    if(CHORUS_SANITIZE MATCHES "thread")
      # -Wtsan flags the std::atomic_thread_fence that Asio headers inline into our code. TSan
      # does not model fences, but Asio's scheduler hands handlers between threads under a mutex,
      # which it does model; the suite runs without a report (docs/reliability.md).
      target_compile_options(${target} PRIVATE -Wno-tsan)
    endif()
  endif()
  if(CHORUS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
