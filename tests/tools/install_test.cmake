# `cmake --install` gives a working `stride` on a prefix's PATH: installs the
# build into a fresh prefix, then runs the installed binary from an empty
# directory (so nothing of the source or build tree is found by accident) on
# the installed configs, with PATH holding only the prefix and the system.
#   cmake -DBUILD_DIR=... -DPREFIX=... -P install_test.cmake
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} RESULT_VARIABLE failed
                OUTPUT_QUIET)
if(failed)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed")
endif()
if(NOT EXISTS ${PREFIX}/bin/stride OR NOT EXISTS ${PREFIX}/share/stride/configs/seed_cnn_fashion.ini)
  message(FATAL_ERROR "the install has no bin/stride or share/stride/configs")
endif()
set(empty ${PREFIX}/empty)
file(MAKE_DIRECTORY ${empty})
set(ENV{PATH} "${PREFIX}/bin:/usr/bin:/bin")
execute_process(COMMAND stride summary --config ${PREFIX}/share/stride/configs/seed_cnn_fashion.ini
                WORKING_DIRECTORY ${empty} RESULT_VARIABLE failed OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(failed)
  message(FATAL_ERROR "the installed stride failed: ${err}")
endif()
if(NOT out MATCHES "Total params: 93,322")
  message(FATAL_ERROR "the installed stride printed no summary of the seed network:\n${out}")
endif()
execute_process(COMMAND stride --version RESULT_VARIABLE failed OUTPUT_VARIABLE version)
if(failed OR NOT version MATCHES "^stride [0-9]")
  message(FATAL_ERROR "stride --version: ${version}")
endif()
file(REMOVE_RECURSE ${PREFIX})
