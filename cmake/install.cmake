# make install (cmake --install): the binaries, the man pages, bash/zsh/fish
# completion, the systemd units (tallinnd, tallinn-witness) with their
# sysusers.d files and tallinnd's first-start helper, the Docker entrypoint, and the docs. Files whose text or place
# depends on the prefix are written at install time (install_prefixed.cmake),
# so `cmake --install --prefix P` and DESTDIR are honoured like everywhere else.
include(GNUInstallDirs)

install(TARGETS tallinnd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS tallinnctl tallinn-audit RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES ${CMAKE_BINARY_DIR}/share/man/man1/tallinnctl.1
              ${CMAKE_SOURCE_DIR}/docs/man/tallinn-audit.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/tallinnd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# bash-completion loads completions/<command> on first use; fish reads
# vendor_completions.d; zsh's directory depends on the prefix (below).
install(FILES ${CMAKE_BINARY_DIR}/share/completion/tallinnctl.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME tallinnctl)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/completion/tallinn-audit.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME tallinn-audit)
install(FILES ${CMAKE_BINARY_DIR}/share/completion/tallinnctl.fish
              ${CMAKE_SOURCE_DIR}/deploy/completion/tallinn-audit.fish
        DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)

install(PROGRAMS ${CMAKE_SOURCE_DIR}/deploy/tallinnd-first-start
                 ${CMAKE_SOURCE_DIR}/deploy/docker-entrypoint
        DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/tallinn)

file(GLOB TALLINN_DOCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${TALLINN_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# At install time: the unit (absolute paths under the prefix), sysusers.d and
# the zsh completions.
install(CODE "
  set(TALLINN_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
  set(TALLINN_BINARY_DIR \"${CMAKE_BINARY_DIR}\")
  set(TALLINN_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(TALLINN_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
  set(TALLINN_LIBEXECDIR \"${CMAKE_INSTALL_LIBEXECDIR}\")
  set(TALLINN_DATADIR \"${CMAKE_INSTALL_DATADIR}\")
  set(TALLINN_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/install_prefixed.cmake)
