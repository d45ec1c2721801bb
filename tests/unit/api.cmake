# Unit tests of the request logic library (validate, filter, pagetoken).
# test_filter also runs the generated SQL against an in-memory SQLite.
tallinn_unit_test(validate tallinn_api)
tallinn_unit_test(filter tallinn_api PkgConfig::SQLITE)
tallinn_unit_test(pagetoken tallinn_api PkgConfig::SODIUM)
