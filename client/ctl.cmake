# tallinnctl, the staff CLI. Its man page and bash completion are generated
# from the command table by the built binary itself.
add_executable(tallinnctl
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_main.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_commands.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_config.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_output.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_resources.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_audit.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_help.c)
target_link_libraries(tallinnctl PRIVATE tallinn_rpc_client tallinn_pbjson tallinn_tlog
                      PkgConfig::INIH PkgConfig::JANSSON PkgConfig::SODIUM)

set(TALLINNCTL_MAN ${CMAKE_BINARY_DIR}/share/man/man1/tallinnctl.1)
set(TALLINNCTL_BASH ${CMAKE_BINARY_DIR}/share/bash-completion/completions/tallinnctl)
add_custom_command(
  OUTPUT ${TALLINNCTL_MAN} ${TALLINNCTL_BASH}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/share/man/man1
          ${CMAKE_BINARY_DIR}/share/bash-completion/completions
  COMMAND tallinnctl help --man > ${TALLINNCTL_MAN}
  COMMAND tallinnctl completion bash > ${TALLINNCTL_BASH}
  DEPENDS tallinnctl
  COMMENT "tallinnctl man page and bash completion" VERBATIM)
add_custom_target(tallinnctl-docs ALL DEPENDS ${TALLINNCTL_MAN} ${TALLINNCTL_BASH})
