# Money in the donors' currencies and the reports people use (issue 14):
# exchange rates, USD/GBP/JPY/KWD pledges and matches valued in EUR, the
# worked USD + GBP example, bad input, and each role's report against sums
# computed from what it may list.
add_test(NAME integration.currency
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/currency_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.currency PROPERTIES TIMEOUT 300)
