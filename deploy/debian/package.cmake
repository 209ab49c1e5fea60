# The Debian package (scripts/package): what `cmake --install` puts where, and CPack's DEB
# settings. /usr/bin/herald serves /usr/share/herald/web by default (its ../share/herald/web).
install(TARGETS herald herald-publish herald-admin herald-token RUNTIME DESTINATION bin)
if(TARGET herald_web)
  install(DIRECTORY "${HERALD_WEB_ROOT}/" DESTINATION share/herald/web)
endif()
set(herald_debian_dir "${CMAKE_CURRENT_LIST_DIR}")
set(HERALD_PACKAGE_MAINTAINER "Herald maintainers <maintainers@herald.example.org>" CACHE STRING
    "The Maintainer field of the Debian package (and its changelog)")
# A native package's changelog, compressed as Debian wants it (gzip -9n: reproducible).
configure_file("${herald_debian_dir}/changelog.in" "${CMAKE_BINARY_DIR}/debian/changelog" @ONLY)
execute_process(
  COMMAND gzip -9nf "${CMAKE_BINARY_DIR}/debian/changelog"
  RESULT_VARIABLE herald_gzip_result)
if(NOT herald_gzip_result EQUAL 0)
  message(FATAL_ERROR "gzip could not compress the package changelog")
endif()
install(FILES "${herald_debian_dir}/herald.service" DESTINATION /lib/systemd/system)
install(FILES "${herald_debian_dir}/herald.flags" DESTINATION /etc/herald)
install(FILES "${herald_debian_dir}/copyright" "${CMAKE_BINARY_DIR}/debian/changelog.gz"
        DESTINATION share/doc/herald)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME herald)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "${HERALD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "real-time gateway: gRPC publishers in, WebSocket and SSE subscribers out")
set(CPACK_PACKAGE_DESCRIPTION
    "Herald takes events from backend services over gRPC and fans them out to\n\
browsers over WebSocket (protobuf frames) and Server-Sent Events (JSON), with\n\
history, recovery after reconnects, JWT and publisher-key auth, topic rules,\n\
presence and an admin API. One node runs on its in-memory engine; several\n\
share topics through Redis.")
set(CPACK_DEBIAN_FILE_NAME "herald_${PROJECT_VERSION}_amd64.deb")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Dependencies as dpkg-shlibdeps finds them in the binaries.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
# The conffile, and what dh_installsystemd would do: enable and start the unit on install,
# restart it on upgrade, stop it before removal, forget it on purge.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${herald_debian_dir}/conffiles"
    "${herald_debian_dir}/postinst" "${herald_debian_dir}/prerm" "${herald_debian_dir}/postrm")
# deb-systemd-helper and deb-systemd-invoke.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "init-system-helpers (>= 1.54)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Whatever the packager's umask: the service's dynamic user reads /etc/herald and the web root.
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
include(CPack)
