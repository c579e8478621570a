# Fails when a file of a library includes a project header from a folder the
# library may not use. Called by vhdcrypt_library() in CMakeLists.txt at build
# time with:
#   LIBRARY  the library's target name, for the message
#   ALLOWED  the folders (relative to ROOT) it may include from: its own and
#            those of the libraries it USES
#   FILES    its sources and headers (absolute paths)
#   ROOT     the repository root
#   STAMP    written when every include is allowed
# Only includes in quotes that name a project folder are judged ("base/...",
# "formats/...", "guestfs/...", "src/..."); <...> includes are outside ones.
cmake_minimum_required(VERSION 3.25)
set(bad)
foreach(file IN LISTS FILES)
  file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  file(RELATIVE_PATH rel ${ROOT} ${file})
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" inc "${line}")
    if(NOT inc MATCHES "^(base|formats|guestfs|src)/")
      continue()
    endif()
    get_filename_component(inc_dir ${inc} DIRECTORY)
    if(NOT inc_dir IN_LIST ALLOWED)
      list(APPEND bad "${rel} includes \"${inc}\"")
    endif()
  endforeach()
endforeach()
if(bad)
  list(JOIN ALLOWED ", " allowed_text)
  list(JOIN bad "\n  " bad_text)
  message(FATAL_ERROR "layering: ${LIBRARY} may include only from ${allowed_text} "
                      "(its USES in CMakeLists.txt), but\n  ${bad_text}")
endif()
file(TOUCH ${STAMP})
