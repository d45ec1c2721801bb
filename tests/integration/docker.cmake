# integration.docker: the image without a Docker engine: .dockerignore, the
# runtime packages against ldd of the binaries, the Dockerfile's flags, the
# entrypoint and first-start scripts as installed.
add_test(NAME integration.docker
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/docker_test.py
                 ${CMAKE_BINARY_DIR})
set_tests_properties(integration.docker PROPERTIES TIMEOUT 180 RESOURCE_LOCK cmake_install)
