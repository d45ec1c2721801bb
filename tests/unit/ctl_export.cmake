# The tools' export helpers: the RFC 4180 writer (client/cli_csv.c) and
# Money as an exact decimal (cli_money_decimal, client/cli_money.c).
tallinn_unit_test(cli_csv tallinn_cli)
tallinn_unit_test(ctl_money tallinn_cli)
