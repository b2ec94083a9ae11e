# the source-spec of an import (src/source/): format_open on any JSON, its
# streams turned into small local files; corpus in fuzz/corpus/source_spec.
#   CC=clang cmake -S . -B build-fuzz -DLBD_FUZZ=ON -DLBD_WERROR=OFF
#   cmake --build build-fuzz --target fuzz_source_spec
#   build-fuzz/fuzz/fuzz_source_spec -max_total_time=600 \
#     fuzz/corpus/source_spec
add_executable(fuzz_source_spec fuzz_source_spec.c)
target_link_libraries(fuzz_source_spec lbd)
if(LBD_FUZZ)
  file(GLOB fuzz_source_files ${PROJECT_SOURCE_DIR}/src/source/*.c)
  target_sources(fuzz_source_spec PRIVATE ${fuzz_source_files}
    ${PROJECT_SOURCE_DIR}/src/image/export_stream.c
    ${PROJECT_SOURCE_DIR}/src/image/export_parse.c)
  target_compile_options(fuzz_source_spec PRIVATE
    -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_source_spec PRIVATE
    -fsanitize=fuzzer,address,undefined)
else()
  target_sources(fuzz_source_spec PRIVATE fuzz_main.c)
  add_test(NAME fuzz/source_spec
    COMMAND fuzz_source_spec ${CMAKE_CURRENT_SOURCE_DIR}/corpus/source_spec)
endif()
