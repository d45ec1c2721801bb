# tallinn-bench against a fresh tallinnd: every workload for a bounded number
# of calls, exit 0 and no verification failures. Not a speed check: speed
# goals live in docs/BENCHMARKS.md (`make bench`), never in timed tests.
tallinn_server_test(smoke PREFIX bench TIMEOUT 180
  COMMAND /bin/sh ${CMAKE_SOURCE_DIR}/bench/smoke.sh
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinn-bench>
                 $<TARGET_FILE:tallinn-bench-echo>
  LABELS bench)
