# liblbd.so: the public library as a shared object, built from the same
# objects as the static libraries (lbd, lbd_objstore, lbd_util), which are
# therefore compiled as position-independent code.  Only the lbd_* API is
# exported (liblbd.map).  The static `lbd` target stays what the tests and
# the lbd command link.  Also lbd.pc for pkg-config: build/lbd.pc points at
# this build tree (for tests and development), the installed one at the
# install prefix.
set_target_properties(lbd lbd_objstore lbd_util PROPERTIES
  POSITION_INDEPENDENT_CODE ON)

add_library(lbd_shared SHARED
  $<TARGET_OBJECTS:lbd> $<TARGET_OBJECTS:lbd_objstore>
  $<TARGET_OBJECTS:lbd_util>)
target_link_libraries(lbd_shared PRIVATE PkgConfig::LMDB Threads::Threads)
target_include_directories(lbd_shared PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:include>)
target_link_options(lbd_shared PRIVATE
  -Wl,--version-script=${CMAKE_CURRENT_SOURCE_DIR}/liblbd.map
  -Wl,--no-undefined)
set_target_properties(lbd_shared PROPERTIES
  OUTPUT_NAME lbd
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/liblbd.map
  LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})

include(GNUInstallDirs)
# lbd.pc is written by lbd_write_pc(), called once every dependency is
# known (src/CMakeLists.txt, after the rados backend).  Requires.private
# and Libs.private matter to `pkg-config --static` only.
macro(lbd_write_pc)
  set(LBD_PC_REQUIRES_PRIVATE
    "lmdb libcurl jansson libcrypto zlib libzstd libnbd")
  set(LBD_PC_LIBS_PRIVATE "-lpthread")
  if(LBD_HAVE_RADOS)
    if(LBD_RADOS_FOUND)
      string(APPEND LBD_PC_REQUIRES_PRIVATE " librados")
    else()
      string(APPEND LBD_PC_LIBS_PRIVATE " -lrados")
    endif()
    string(APPEND LBD_PC_LIBS_PRIVATE " -lstdc++")
  endif()
  # build/lbd.pc: this build tree
  set(LBD_PC_PREFIX ${PROJECT_BINARY_DIR})
  set(LBD_PC_LIBDIR ${PROJECT_BINARY_DIR})
  set(LBD_PC_INCLUDEDIR ${PROJECT_SOURCE_DIR}/include)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/lbd.pc.in
    ${PROJECT_BINARY_DIR}/lbd.pc @ONLY)
  # the installed one, relative to where it lies (so `cmake --install
  # --prefix DIR` gives a right one too)
  file(RELATIVE_PATH LBD_PC_UP /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig
    /prefix)
  set(LBD_PC_PREFIX "\${pcfiledir}/${LBD_PC_UP}")
  set(LBD_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(LBD_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/lbd.pc.in
    ${PROJECT_BINARY_DIR}/pkgconfig-install/lbd.pc @ONLY)
endmacro()

install(TARGETS lbd_shared
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/lbd/lbd.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lbd)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig-install/lbd.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
