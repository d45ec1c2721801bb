# tallinnctl, the staff CLI. Its man page and its bash, zsh and fish
# completion scripts are written by the built binary itself (from its command
# table) into build/share/, where install() picks them up.
add_executable(tallinnctl
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_main.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_commands.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_config.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_output.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_resources.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_evidence.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_report.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_outfile.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_export.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_iati.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_audit.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_changes.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_help.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_complete.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_pager.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_info.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl_contexts.c)
# tallinn_api (through tallinn_cli) for the ISO 4217 table (currency.h);
# libxml2 for the IATI export; libmagic for the media type of --evidence files.
target_link_libraries(tallinnctl PRIVATE tallinn_cli tallinn_rpc_client tallinn_pbjson tallinn_tlog
                      tallinn_api PkgConfig::INIH PkgConfig::JANSSON PkgConfig::SODIUM
                      PkgConfig::LIBXML2 PkgConfig::MAGIC)

# The man page's date: the day CMake configured the build, or SOURCE_DATE_EPOCH's.
string(TIMESTAMP TALLINNCTL_MAN_DATE "%Y-%m-%d" UTC)
set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/ctl_help.c PROPERTIES
                            COMPILE_DEFINITIONS CTL_MAN_DATE="${TALLINNCTL_MAN_DATE}")
set(TALLINNCTL_MAN ${CMAKE_BINARY_DIR}/share/man/man1/tallinnctl.1)
set(TALLINNCTL_COMPLETIONS
    ${CMAKE_BINARY_DIR}/share/completion/tallinnctl.bash
    ${CMAKE_BINARY_DIR}/share/completion/tallinnctl.zsh
    ${CMAKE_BINARY_DIR}/share/completion/tallinnctl.fish)
add_custom_command(
  OUTPUT ${TALLINNCTL_MAN} ${TALLINNCTL_COMPLETIONS}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/share/man/man1
          ${CMAKE_BINARY_DIR}/share/completion
  COMMAND tallinnctl help --man > ${TALLINNCTL_MAN}
  COMMAND tallinnctl completion bash > ${CMAKE_BINARY_DIR}/share/completion/tallinnctl.bash
  COMMAND tallinnctl completion zsh > ${CMAKE_BINARY_DIR}/share/completion/tallinnctl.zsh
  COMMAND tallinnctl completion fish > ${CMAKE_BINARY_DIR}/share/completion/tallinnctl.fish
  DEPENDS tallinnctl
  COMMENT "tallinnctl man page and completion scripts" VERBATIM)
add_custom_target(tallinnctl-docs ALL DEPENDS ${TALLINNCTL_MAN} ${TALLINNCTL_COMPLETIONS})
