# Unit tests of the request logic library (validate, filter, pagetoken,
# textfold and delivery evidence).
tallinn_unit_test(validate tallinn_api)
tallinn_unit_test(filter tallinn_api)
tallinn_unit_test(pagetoken tallinn_api PkgConfig::SODIUM)
tallinn_unit_test(evidence tallinn_api PkgConfig::SODIUM)
