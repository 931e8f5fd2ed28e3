# Install rules and the Debian package (scripts/package.sh): both binaries, the collector's and
# the agent's systemd units, man pages made from each binary's --help text (help2man, built by the
# man_pages target, not by default), and an example daemon config.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)  # packaging builds the binaries, not the unit tests
install(TARGETS stallscope stallscope-collector RUNTIME DESTINATION bin)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/stallscope-collector.service
              ${PROJECT_SOURCE_DIR}/packaging/stallscope-agent.service
        DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/stallscope-daemon.conf ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION share/doc/stallscope)

find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(MAN_DIR ${CMAKE_BINARY_DIR}/man)
  set(MAN_PAGES)
  # stallscope_man_page(<page> <binary target> "<help option>" "<one-line description>")
  function(stallscope_man_page page target help_option description)
    set(out ${MAN_DIR}/${page}.1)
    add_custom_command(
      OUTPUT ${out}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${MAN_DIR}
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --version-string=${PROJECT_VERSION}
              --help-option=${help_option} --name=${description} --output=${out}
              $<TARGET_FILE:${target}>
      COMMAND gzip -9nf ${out}
      DEPENDS ${target}
      COMMENT "Man page ${page}(1)" VERBATIM)
    set(MAN_PAGES ${MAN_PAGES} ${out}.gz PARENT_SCOPE)
  endfunction()
  stallscope_man_page(stallscope stallscope "--help"
                      "eBPF profiler for Python web servers: which event loop blocked, and why")
  stallscope_man_page(stallscope-attach stallscope "attach --help"
                      "attach to running Python servers and report their stalls")
  stallscope_man_page(stallscope-daemon stallscope "daemon --help"
                      "watch every Python web server on the host")
  stallscope_man_page(stallscope-collector stallscope-collector "--help"
                      "fleet collector: agent streams, query API, dashboard, metrics")
  add_custom_target(man_pages DEPENDS ${MAN_PAGES})
  install(FILES ${MAN_PAGES} DESTINATION share/man/man1 OPTIONAL)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stallscope)
set(CPACK_PACKAGE_VENDOR stallscope)
set(CPACK_PACKAGE_CONTACT "stallscope maintainers <stallscope@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "eBPF profiler for Python web servers that stall: agent and fleet collector")
set(CPACK_PACKAGE_DESCRIPTION
    "stallscope reports which event loop blocked, for how long, on what call and from which\n\
line of Python, and when a worker pool is saturated, from the kernel, without touching the\n\
target. stallscope-collector stores the reports of a fleet and serves a dashboard and metrics.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from the libraries the binaries load
set(CPACK_STRIP_FILES ON)
include(CPack)
