# Layer checks at configure time: libraries are cut by layer
# (docs/ARCHITECTURE.md), and a stray link would quietly undo the cut (the
# exchange pipeline once linked RocksDB through the audit library, for one
# header). dx_check_link_closure fails the configuration when the link
# closure of a target reaches a forbidden one: PUBLIC, PRIVATE and
# INTERFACE links alike, since a static library's PRIVATE links are linked
# into every program that uses it.

# Sets `out_var` to every target `target` links, directly or not, and
# `${out_var}_PATH_<id>` (id: string(MAKE_C_IDENTIFIER)) to the chain of
# links from `target` to each, for the error message.
function(_dx_link_closure target out_var)
  set(seen)
  set(pending ${target})
  string(MAKE_C_IDENTIFIER "${target}" id)
  set(path_${id} ${target})
  while(pending)
    list(POP_FRONT pending current)
    if(NOT TARGET ${current} OR current IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${current})
    string(MAKE_C_IDENTIFIER "${current}" current_id)
    get_target_property(type ${current} TYPE)
    set(links)
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(direct ${current} LINK_LIBRARIES)
      if(direct)
        list(APPEND links ${direct})
      endif()
    endif()
    get_target_property(iface ${current} INTERFACE_LINK_LIBRARIES)
    if(iface)
      list(APPEND links ${iface})
    endif()
    get_target_property(aliased ${current} ALIASED_TARGET)
    if(aliased)
      list(APPEND links ${aliased})
    endif()
    foreach(link ${links})
      # $<LINK_ONLY:x> is how CMake passes on a static library's PRIVATE links.
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" link "${link}")
      if(TARGET ${link} AND NOT link IN_LIST seen)
        string(MAKE_C_IDENTIFIER "${link}" link_id)
        if(NOT DEFINED path_${link_id})
          set(path_${link_id} ${path_${current_id}} ${link})
        endif()
        list(APPEND pending ${link})
      endif()
    endforeach()
  endwhile()
  set(${out_var} ${seen} PARENT_SCOPE)
  foreach(t ${seen})
    string(MAKE_C_IDENTIFIER "${t}" t_id)
    string(REPLACE ";" " -> " chain "${path_${t_id}}")
    set(${out_var}_PATH_${t_id} "${chain}" PARENT_SCOPE)
  endforeach()
endfunction()

# dx_check_link_closure(TARGETS t... FORBIDDEN f... CONTROL c WHY "text"):
# CONTROL is a target that does link one of FORBIDDEN, so that a walk that
# went blind (a CMake change in how links are stored) fails instead of
# passing everything.
function(dx_check_link_closure)
  cmake_parse_arguments(ARG "" "WHY;CONTROL" "TARGETS;FORBIDDEN" ${ARGN})
  set(control_closure)
  _dx_link_closure(${ARG_CONTROL} control_closure)
  set(control_found FALSE)
  foreach(bad ${ARG_FORBIDDEN})
    if(bad IN_LIST control_closure)
      set(control_found TRUE)
    endif()
  endforeach()
  if(NOT control_found)
    message(FATAL_ERROR "layer check: the control ${ARG_CONTROL} should link "
      "one of ${ARG_FORBIDDEN} and the walk did not find it; fix "
      "cmake/layers.cmake before trusting it")
  endif()
  foreach(target ${ARG_TARGETS})
    if(NOT TARGET ${target})
      message(FATAL_ERROR "layer check: no target ${target} (renamed? update "
        "cmake/layers.cmake's callers)")
    endif()
    set(closure)
    _dx_link_closure(${target} closure)
    foreach(bad ${ARG_FORBIDDEN})
      if(bad IN_LIST closure)
        string(MAKE_C_IDENTIFIER "${bad}" bad_id)
        message(FATAL_ERROR "layer check: ${target} links ${bad} through "
          "${closure_PATH_${bad_id}}: ${ARG_WHY}. Link the seam's "
          "INTERFACE library or the core library instead "
          "(docs/ARCHITECTURE.md, Libraries by layer).")
      endif()
    endforeach()
  endforeach()
endfunction()
