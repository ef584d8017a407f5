# The ROS 2 wheels on PyPI export include directories of their own build machine
# (/opt/python/...), and CMake's generate step fails on them ("includes non-existent path").
# Including this file drops, from every target the including project imports, the include
# directories that do not exist here, once the project's CMakeLists.txt has been read (its
# find_package() calls made) and before generation checks them. On a regular ROS install
# nothing is dropped.
#
# Our CMakeLists.txt files include it; an interface package of someone else's, built
# unmodified against the wheels, gets it with -DCMAKE_PROJECT_INCLUDE=<this file>. Needs
# CMake >= 3.19 (cmake_language(DEFER)).

function(drop_missing_include_dirs)
  get_directory_property(_targets IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_existing "")
    foreach(_dir IN LISTS _dirs)
      if(EXISTS "${_dir}" OR _dir MATCHES "^\\$<")
        list(APPEND _existing "${_dir}")
      endif()
    endforeach()
    if(NOT _existing STREQUAL _dirs)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_existing}")
    endif()
  endforeach()
endfunction()

cmake_language(DEFER CALL drop_missing_include_dirs)
