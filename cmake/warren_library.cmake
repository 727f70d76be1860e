# warren_add_library(NAME FOLDER [PUBLIC deps...] [PRIVATE deps...]): the
# library warren::NAME (libwarren_NAME) built from FOLDER/src/**.cpp, with
# FOLDER/include as its public (installed) headers and FOLDER/src as its
# private ones, which are never installed.
function(warren_add_library name folder)
  cmake_parse_arguments(ARG "" "" "PUBLIC;PRIVATE" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${folder}/src/*.cpp)
  add_library(warren_${name} ${sources})
  add_library(warren::${name} ALIAS warren_${name})
  set_target_properties(warren_${name} PROPERTIES EXPORT_NAME ${name}
                                                  OUTPUT_NAME warren_${name})
  target_include_directories(warren_${name}
    PUBLIC $<BUILD_INTERFACE:${folder}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${folder}/src)
  target_link_libraries(warren_${name} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
  warren_set_warnings(warren_${name})
  install(TARGETS warren_${name} EXPORT warrenTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${folder}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()
