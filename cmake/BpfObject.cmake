# Builds CO-RE BPF objects and their libbpf skeletons.
#
# vmlinux.h is generated from the build host's /sys/kernel/btf/vmlinux rather than committed:
# CO-RE relocates every field access at load time against the *running* kernel's BTF, so the
# header only has to declare the types we use, and the build hosts (developers, CI, the image
# build) all run BTF kernels. A missing BTF file fails the configure step with a clear message.
find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "unsupported architecture for BPF: ${CMAKE_SYSTEM_PROCESSOR}")
endif()

set(VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF used to generate vmlinux.h")
set(VMLINUX_H_DIR ${CMAKE_BINARY_DIR}/vmlinux)
if(NOT EXISTS ${VMLINUX_BTF})
  message(FATAL_ERROR "${VMLINUX_BTF} not found: building the BPF programs needs a kernel with BTF "
                      "(CONFIG_DEBUG_INFO_BTF=y) or -DVMLINUX_BTF=<file>")
endif()
add_custom_command(
  OUTPUT ${VMLINUX_H_DIR}/vmlinux.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${VMLINUX_H_DIR}
  COMMAND ${BPFTOOL} btf dump file ${VMLINUX_BTF} format c > ${VMLINUX_H_DIR}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${VMLINUX_BTF}")
add_custom_target(vmlinux_h DEPENDS ${VMLINUX_H_DIR}/vmlinux.h)

# The flags of every BPF compile. -mcpu=v3: atomic OR/AND on map values (tracked-process
# bitmap), kernel 5.12+.
set(BPF_CFLAGS -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${BPF_TARGET_ARCH} -Wall -Werror
    -I${VMLINUX_H_DIR})

# bpf_object(<name> <source.bpf.c> [DEPENDS headers...]): builds <name>.bpf.o and <name>.skel.h,
# and an INTERFACE library <name>_skel to link against.
function(bpf_object name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} ${BPF_CFLAGS} -I${CMAKE_CURRENT_SOURCE_DIR}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${source} ${ARG_DEPENDS} vmlinux_h ${VMLINUX_H_DIR}/vmlinux.h
    COMMENT "BPF ${source}")
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "Skeleton ${name}.skel.h")
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF ZLIB::ZLIB)
endfunction()

# bpf_headers_standalone(<target> headers...): a target that compiles each header alone, as a C
# file with the flags above (-fsyntax-only), so a header that leans on what its includer defined
# before it fails the build. -Wno-unused-function: a header's static helpers have no caller when
# it is compiled alone. Re-run when any of the headers changes.
function(bpf_headers_standalone target)
  set(stamps)
  set(headers)
  foreach(header IN LISTS ARGN)
    list(APPEND headers ${CMAKE_CURRENT_SOURCE_DIR}/${header})
  endforeach()
  foreach(header IN LISTS ARGN)
    set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${header}.standalone)
    add_custom_command(
      OUTPUT ${stamp}
      COMMAND ${BPF_CLANG} ${BPF_CFLAGS} -Wno-unused-function -I${CMAKE_CURRENT_SOURCE_DIR}
              -x c -fsyntax-only ${CMAKE_CURRENT_SOURCE_DIR}/${header}
      COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
      DEPENDS ${headers} vmlinux_h ${VMLINUX_H_DIR}/vmlinux.h
      COMMENT "BPF header ${header} compiles on its own")
    list(APPEND stamps ${stamp})
  endforeach()
  add_custom_target(${target} DEPENDS ${stamps})
endfunction()
