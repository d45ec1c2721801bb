# Money in the donors' currencies and the reports people use (issue 14):
# exchange rates, USD/GBP/JPY/KWD pledges and matches valued in EUR, the
# worked USD + GBP example, bad input, and each role's report against sums
# computed from what it may list.
tallinn_server_test(currency TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/currency_test.py
                 $<TARGET_FILE:tallinnd>)
