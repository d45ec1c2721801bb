# integration.search: the filter's ":" search through the API and tallinnctl
# (Cyrillic in any case, wildcards as text, paging, need-to-know, bad input).
tallinn_server_test(search TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/search_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl>)
