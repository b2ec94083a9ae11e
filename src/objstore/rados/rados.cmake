# The rados objstore backend, built when librados is found (Debian:
# librados-dev, which scripts/install-deps.sh installs).  -DLBD_WITH_RADOS=OFF
# leaves it out; pools on it then fail to open with ENOTSUP, by name.
option(LBD_WITH_RADOS "Build the rados objstore backend (needs librados)" ON)
set(LBD_HAVE_RADOS OFF)
if(LBD_WITH_RADOS)
  pkg_check_modules(LBD_RADOS QUIET IMPORTED_TARGET librados)
  if(LBD_RADOS_FOUND)
    set(LBD_RADOS_LINK PkgConfig::LBD_RADOS)
  else()
    find_library(LBD_RADOS_LIBRARY rados)
    find_path(LBD_RADOS_INCLUDE rados/librados.h)
    if(LBD_RADOS_LIBRARY AND LBD_RADOS_INCLUDE)
      set(LBD_RADOS_LINK ${LBD_RADOS_LIBRARY})
      include_directories(${LBD_RADOS_INCLUDE})
    endif()
  endif()
  # Writes (rados_wop.cc: no copy of the data), list-snaps and sparse reads
  # (rados_snaps.cc) use librados' C++ API too (Debian: libradospp-dev).
  if(LBD_RADOS_LINK)
    include(CheckIncludeFileCXX)
    include(CheckLanguage)
    check_language(CXX)
    if(CMAKE_CXX_COMPILER)
      enable_language(CXX)
      check_include_file_cxx(rados/librados.hpp LBD_HAVE_RADOS_HPP)
    endif()
  endif()
  if(LBD_RADOS_LINK AND LBD_HAVE_RADOS_HPP)
    set(LBD_HAVE_RADOS ON)
    message(STATUS "lbd: rados backend: on (${LBD_RADOS_LINK})")
  elseif(LBD_RADOS_LINK)
    message(WARNING "lbd: rados backend: off (librados' C++ headers not "
                    "found: apt-get install libradospp-dev)")
  else()
    message(STATUS "lbd: rados backend: off (librados not found: apt-get "
                   "install librados-dev libradospp-dev)")
  endif()
endif()
set(LBD_HAVE_RADOS ${LBD_HAVE_RADOS} PARENT_SCOPE)
if(LBD_HAVE_RADOS)
  target_sources(lbd_objstore PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/rados_backend.c
    ${CMAKE_CURRENT_LIST_DIR}/rados_holders.c
    ${CMAKE_CURRENT_LIST_DIR}/rados_history.c)
  target_compile_definitions(lbd_objstore PUBLIC LBD_HAVE_RADOS=1)
  target_link_libraries(lbd_objstore PUBLIC ${LBD_RADOS_LINK})
  target_link_libraries(lbd_shared PRIVATE ${LBD_RADOS_LINK})
  # an object library of its own: the directory's C-only warning options
  # (an error in C++ under -Werror) left out
  add_library(lbd_rados_cxx OBJECT ${CMAKE_CURRENT_LIST_DIR}/rados_snaps.cc
    ${CMAKE_CURRENT_LIST_DIR}/rados_wop.cc)
  get_target_property(lbd_cxx_opts lbd_rados_cxx COMPILE_OPTIONS)
  list(REMOVE_ITEM lbd_cxx_opts -Wstrict-prototypes -Wmissing-prototypes)
  set_target_properties(lbd_rados_cxx PROPERTIES COMPILE_OPTIONS
    "${lbd_cxx_opts}" CXX_STANDARD 17 POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(lbd_rados_cxx PRIVATE ${LBD_RADOS_LINK})
  target_sources(lbd_objstore PRIVATE $<TARGET_OBJECTS:lbd_rados_cxx>)
  target_sources(lbd_shared PRIVATE $<TARGET_OBJECTS:lbd_rados_cxx>)
  # C executables link the static lbd_objstore: the C++ runtime by name
  target_link_libraries(lbd_objstore PUBLIC stdc++)
  target_link_libraries(lbd_shared PRIVATE stdc++)
endif()
