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
  if(LBD_RADOS_LINK)
    set(LBD_HAVE_RADOS ON)
    message(STATUS "lbd: rados backend: on (${LBD_RADOS_LINK})")
  else()
    message(STATUS "lbd: rados backend: off (librados not found: apt-get "
                   "install librados-dev)")
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
endif()
