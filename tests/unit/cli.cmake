# The command-line tools' shared helpers (tallinn_cli): terminal text, "did
# you mean", money input and exit statuses; the config file of contexts.
tallinn_unit_test(cli tallinn_cli)
tallinn_unit_test(cli_config tallinn_cli)
