# fish completion for tallinn-audit. Kept by hand; make install puts it in
# share/fish/vendor_completions.d. tests/integration/install_test.py checks
# the options it offers against each command's --help.
set -l cmds verify check-proof prove show help
set -l net verify prove show
complete -c tallinn-audit -f
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a verify -d "verify a tlog-tiles directory, or a live server's log"
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a check-proof -d "verify a tlog-proof file, and an entry's inclusion"
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a prove -d 'write a tlog-proof file for one record of a live server'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a show -d 'print the records of a tlog-tiles directory or a server'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a help -d 'list the commands'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -l help -d 'list the commands'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -l version -d 'print the version'

# Every command.
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify check-proof prove show" -s h -l help -d 'show the help of this command'
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify check-proof prove show" -s k -l key -r -F -d "the log's verifier key, or a file holding it"
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify check-proof prove" -s q -l quiet -d 'print nothing on success'
# Connecting to a server.
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -s s -l server -x -d 'the live server, host:port (AUDITOR)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l token-file -r -F -d 'file holding the bearer token'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l insecure -d 'plaintext (loopback, tests)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l ca -r -F -d 'TLS roots to check the server with (PEM)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l cert -r -F -d 'client certificate for mutual TLS (PEM)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l cert-key -r -F -d 'client key for mutual TLS (PEM)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l server-name -x -d 'TLS name to check instead of the host'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l timeout -x -d 'seconds per request'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l verbose -d 'one line on stderr per call'
# One command each.
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify" -l state -r -F -d 'the last verified checkpoint'
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify show" -a '(__fish_complete_directories)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from check-proof" -F
complete -c tallinn-audit -n "__fish_seen_subcommand_from check-proof" -s e -l entry -r -F -d 'the file holding the logged entry'
complete -c tallinn-audit -n "__fish_seen_subcommand_from prove" -s o -l output -r -F -d 'where to write the proof'
complete -c tallinn-audit -n "__fish_seen_subcommand_from prove" -s e -l entry-out -r -F -d "also write the record's leaf bytes"
complete -c tallinn-audit -n "__fish_seen_subcommand_from show" -l from -x -d 'first record index'
complete -c tallinn-audit -n "__fish_seen_subcommand_from show" -l to -x -d 'last record index, included'
complete -c tallinn-audit -n "__fish_seen_subcommand_from show" -s o -l output -x -a 'table json' -d 'output format'
