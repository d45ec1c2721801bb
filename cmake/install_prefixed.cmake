# Runs at install time (install(SCRIPT), after the variables cmake/install.cmake
# sets): what depends on the prefix given to cmake --install, not the one
# configured. file(INSTALL) adds DESTDIR and records the manifest.
foreach(d BINDIR SBINDIR LIBEXECDIR DOCDIR)
  if(IS_ABSOLUTE "${TALLINN_${d}}")
    set(${d} "${TALLINN_${d}}")
  else()
    set(${d} "${CMAKE_INSTALL_PREFIX}/${TALLINN_${d}}")
  endif()
endforeach()

# One staging directory per (DESTDIR, prefix): two installs at once do not
# swap each other's unit.
string(MD5 key "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(stage "${TALLINN_BINARY_DIR}/install-prefixed/${key}")
file(MAKE_DIRECTORY "${stage}")
foreach(unit tallinnd tallinn-witness)
  configure_file("${TALLINN_SOURCE_DIR}/deploy/${unit}.service.in" "${stage}/${unit}.service"
                 @ONLY)
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       FILES "${stage}/${unit}.service")
endforeach()
foreach(user tallinn tallinn-witness)
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" TYPE FILE
       RENAME ${user}.conf FILES "${TALLINN_SOURCE_DIR}/deploy/${user}.sysusers")
endforeach()

# zsh: Debian's zsh reads /usr/share/zsh/vendor-completions, and
# PREFIX/share/zsh/site-functions for any other prefix.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(zsh_dir "${CMAKE_INSTALL_PREFIX}/${TALLINN_DATADIR}/zsh/vendor-completions")
else()
  set(zsh_dir "${CMAKE_INSTALL_PREFIX}/${TALLINN_DATADIR}/zsh/site-functions")
endif()
file(INSTALL DESTINATION "${zsh_dir}" TYPE FILE RENAME _tallinnctl
     FILES "${TALLINN_BINARY_DIR}/share/completion/tallinnctl.zsh")
file(INSTALL DESTINATION "${zsh_dir}" TYPE FILE RENAME _tallinn-audit
     FILES "${TALLINN_SOURCE_DIR}/deploy/completion/tallinn-audit.zsh")
