# integration.install: cmake --install --prefix /usr into a DESTDIR, then the
# tree, the man pages (render, options = --help), bash/zsh/fish completion,
# systemd-analyze verify of the unit.
add_test(NAME integration.install
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/install_test.py
                 ${CMAKE_BINARY_DIR})
# cmake --install writes the build's install_manifest.txt: one at a time.
set_tests_properties(integration.install PROPERTIES TIMEOUT 180 RESOURCE_LOCK cmake_install)
