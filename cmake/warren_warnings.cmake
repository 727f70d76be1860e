# warren_set_warnings(TARGET): warnings on our own code, as errors unless
# WARREN_WERROR is off. Third-party headers are included as SYSTEM and stay quiet.
function(warren_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(WARREN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
