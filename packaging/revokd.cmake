# Installation layout and the Debian package (CPack DEB), included by the top-level
# CMakeLists.txt:
#   cmake --build build && (cd build && cpack -G DEB)     -> build/revokd_<ver>_<arch>.deb
# Programs in /usr/bin, hardened systemd units in /lib/systemd/system, the example
# configuration as /etc/revokd/revokd.conf (a conffile; its key paths point into
# /etc/revokd/keys, which only the indexer and crlgen can read), the operator guide
# and the relying-party configs in /usr/share/doc/revokd. postinst makes the revokd
# user and the revokd-keys group (packaging/deb/). tests/e2e/test_package.sh builds,
# installs and checks it.
include(GNUInstallDirs)

install(TARGETS revokd-indexer revokd-responder revokd-crlgen revokctl
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The example config with its keys moved where the units let only the key holders read.
file(READ ${CMAKE_SOURCE_DIR}/conf/revokd.conf REVOKD_CONF)
string(REPLACE "/var/lib/revokd/demo/ocsp.key" "/etc/revokd/keys/demo-ocsp.key" REVOKD_CONF "${REVOKD_CONF}")
string(REPLACE "/var/lib/revokd/demo/ca.key" "/etc/revokd/keys/demo-ca.key" REVOKD_CONF "${REVOKD_CONF}")
string(REPLACE "/var/lib/revokd/demo/" "/etc/revokd/demo/" REVOKD_CONF "${REVOKD_CONF}")
file(WRITE ${CMAKE_BINARY_DIR}/pkg/revokd.conf "${REVOKD_CONF}")
install(FILES ${CMAKE_BINARY_DIR}/pkg/revokd.conf DESTINATION /etc/revokd)

install(FILES packaging/systemd/revokd-indexer.service packaging/systemd/revokd-responder.service
              packaging/systemd/revokd-crlgen.service
        DESTINATION lib/systemd/system)
install(FILES README.md docs/operations-guide.md docs/configuration.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
install(DIRECTORY conf/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY monitoring/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/monitoring OPTIONAL)

set(CPACK_PACKAGE_NAME revokd)
set(CPACK_PACKAGE_VERSION 0.1.0)
set(CPACK_PACKAGE_CONTACT "revokd maintainers <revokd@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "OCSP responder and CRL generator with pre-signed responses")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "lmdb-utils, openssl")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/deb/postinst ${CMAKE_SOURCE_DIR}/packaging/deb/prerm
    ${CMAKE_SOURCE_DIR}/packaging/deb/postrm ${CMAKE_SOURCE_DIR}/packaging/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
