# The ROS 2 wheels on PyPI export include directories of their own build machine
# (/opt/python/...); drop the ones that do not exist here so that generated targets link.
# On a regular ROS install nothing is dropped.
function(drop_missing_include_dirs)
  foreach(_package IN LISTS ARGN)
    set(_target ${_package}::${_package}__rosidl_generator_py)
    if(TARGET ${_target})
      get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
      set(_existing "")
      foreach(_dir IN LISTS _dirs)
        if(EXISTS "${_dir}" OR _dir MATCHES "^\\$<")
          list(APPEND _existing "${_dir}")
        endif()
      endforeach()
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_existing}")
    endif()
  endforeach()
endfunction()
