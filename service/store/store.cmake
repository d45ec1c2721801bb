# Storage behind store.h: the engine-neutral store (kinds, the SQL both
# engines share, the committer, the read pool, observers) and one file per
# engine (store_engine.h).
set(TALLINN_STORE_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/store/store.c
  ${CMAKE_CURRENT_SOURCE_DIR}/store/store_commit.c
  ${CMAKE_CURRENT_SOURCE_DIR}/store/store_calls.c
  ${CMAKE_CURRENT_SOURCE_DIR}/store/store_kinds.c
  ${CMAKE_CURRENT_SOURCE_DIR}/store/store_sql.c
  ${CMAKE_CURRENT_SOURCE_DIR}/store/store_sqlite.c
  ${CMAKE_CURRENT_SOURCE_DIR}/store/store_sqlite_backup.c
  ${CMAKE_CURRENT_SOURCE_DIR}/store/store_sqlite_ckpt.c)
add_library(tallinn_store STATIC ${TALLINN_STORE_SOURCES})
target_include_directories(tallinn_store PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_store PUBLIC tallinn_proto tallinn_api PkgConfig::SQLITE
                      tallinn_metrics tallinn_slog Threads::Threads)
# The PostgreSQL engine, once it is in the tree (store_pg.c, libpq).
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/store/store_pg.c)
  pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
  target_sources(tallinn_store PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/store/store_pg.c
                                       ${CMAKE_CURRENT_SOURCE_DIR}/store/store_pg_pipeline.c
                                       ${CMAKE_CURRENT_SOURCE_DIR}/store/store_pg_queries.c
                                       ${CMAKE_CURRENT_SOURCE_DIR}/store/store_pg_schema.c
                                       ${CMAKE_CURRENT_SOURCE_DIR}/store/store_pg_changes.c)
  target_compile_definitions(tallinn_store PRIVATE TALLINN_STORE_PG)
  target_link_libraries(tallinn_store PUBLIC PkgConfig::LIBPQ)
endif()
