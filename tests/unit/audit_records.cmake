# tallinn-audit's record printing (client/audit_records.c): what show prints
# of untrusted record text, as a table and as JSON.
tallinn_unit_test(audit_records tallinn_tlog tallinn_proto PkgConfig::SODIUM
                  PkgConfig::PROTOBUFC PkgConfig::JANSSON)
target_sources(test_audit_records PRIVATE ${CMAKE_SOURCE_DIR}/client/audit_records.c)
