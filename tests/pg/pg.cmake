# The throwaway PostgreSQL cluster of the `.pg` tests (tests/pg/pgcluster.py):
# started before the first of them in a temporary directory on a loopback
# port chosen at run time, stopped and removed after the last, whatever
# their results. CTest pulls these in for any `.pg` test it runs (also
# under -R). As root the cluster runs as the `postgres` user.
add_test(NAME pg.cluster.start
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/pg/pgcluster.py start ${TALLINN_PG_STATE})
set_tests_properties(pg.cluster.start PROPERTIES FIXTURES_SETUP pg TIMEOUT 120 LABELS pg)
add_test(NAME pg.cluster.stop
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/pg/pgcluster.py stop ${TALLINN_PG_STATE})
set_tests_properties(pg.cluster.stop PROPERTIES FIXTURES_CLEANUP pg TIMEOUT 120 LABELS pg)
