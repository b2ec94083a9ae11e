# Import-only sources that src/CMakeLists.txt includes after the streams
# and formats: the nbd stream (libnbd) and rbd's own export files as
# formats (rbd-export, rbd-diff).
pkg_check_modules(LBD_NBD REQUIRED IMPORTED_TARGET libnbd)
target_sources(lbd PRIVATE ${CMAKE_CURRENT_LIST_DIR}/stream_nbd.c
  ${CMAKE_CURRENT_LIST_DIR}/format_rbd.c)
target_link_libraries(lbd PUBLIC PkgConfig::LBD_NBD)
target_link_libraries(lbd_shared PRIVATE PkgConfig::LBD_NBD)
