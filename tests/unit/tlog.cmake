# Unit tests of the transparency-log library (tallinn_tlog): known answers
# from tests/data/merkle and tests/data/tessera, plus reference checks.
tallinn_unit_test(merkle tallinn_tlog PkgConfig::JANSSON PkgConfig::SODIUM)
tallinn_unit_test(note tallinn_tlog PkgConfig::SODIUM)
tallinn_unit_test(checkpoint tallinn_tlog PkgConfig::SODIUM)
tallinn_unit_test(tiles tallinn_tlog PkgConfig::SODIUM)
tallinn_unit_test(tlogproof tallinn_tlog PkgConfig::SODIUM)
tallinn_unit_test(cosig tallinn_tlog PkgConfig::SODIUM)
tallinn_unit_test(tlogwitness tallinn_tlog PkgConfig::SODIUM)
# The cosignature known answers are reproduced by their independent Python
# generator (hashlib + python3-nacl) every run.
add_test(NAME unit.cosig_vectors
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/data/cosig/make_vectors.py --check)
