# fish completion for tallinn-audit. Kept by hand; make install puts it in
# share/fish/vendor_completions.d. tests/integration/install_test.py checks
# the options it offers against each command's --help.
set -l cmds verify check-proof prove show witness help
set -l net verify prove show
set -l subs init serve cosign
complete -c tallinn-audit -f
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a verify -d "verify a tlog-tiles directory, or a live server's log"
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a check-proof -d "verify a tlog-proof file, and an entry's inclusion"
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a prove -d 'write a tlog-proof file for one record of a live server'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a show -d 'print the records of a tlog-tiles directory or a server'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a witness -d 'run a witness (init, serve), or ask witnesses to cosign (cosign)'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -a help -d 'list the commands'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -l help -d 'list the commands'
complete -c tallinn-audit -n "not __fish_seen_subcommand_from $cmds" -l version -d 'print the version'

# Every command.
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify check-proof prove show $subs" -s h -l help -d 'show the help of this command'
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify check-proof prove show cosign" -s k -l key -r -F -d "the log's verifier key, or a file holding it"
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify check-proof prove" -s q -l quiet -d 'print nothing on success'
# Connecting to a server.
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -s s -l server -x -d 'the live server, host:port (AUDITOR)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l token-file -r -F -d 'file holding the bearer token'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l insecure -d 'plaintext (loopback, tests)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net cosign" -l ca -r -F -d 'TLS roots (PEM)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l cert -r -F -d 'client certificate for mutual TLS (PEM)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l cert-key -r -F -d 'client key for mutual TLS (PEM)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l server-name -x -d 'TLS name to check instead of the host'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net cosign" -l timeout -x -d 'seconds per request'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l verbose -d 'one line on stderr per call'
complete -c tallinn-audit -n "__fish_seen_subcommand_from $net" -l context -x -a '(tallinnctl config get-contexts -o name 2>/dev/null)' -d "a context of tallinnctl's config file"
# Witnesses, for the verifying commands.
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify check-proof prove" -s W -l witness -r -F -d 'a witness whose cosignature counts (key or file)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify check-proof prove" -l quorum -x -d 'valid cosignatures required'
# One command each.
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify" -l state -r -F -d 'the last verified checkpoint'
complete -c tallinn-audit -n "__fish_seen_subcommand_from verify show cosign" -a '(__fish_complete_directories)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from check-proof" -F
complete -c tallinn-audit -n "__fish_seen_subcommand_from check-proof" -s e -l entry -r -F -d 'the file holding the logged entry'
complete -c tallinn-audit -n "__fish_seen_subcommand_from prove" -l proof-out -r -F -d 'where to write the proof'
complete -c tallinn-audit -n "__fish_seen_subcommand_from prove" -s e -l entry-out -r -F -d "also write the record's leaf bytes"
complete -c tallinn-audit -n "__fish_seen_subcommand_from show" -l from -x -d 'first record index'
complete -c tallinn-audit -n "__fish_seen_subcommand_from show" -l to -x -d 'last record index, included'
complete -c tallinn-audit -n "__fish_seen_subcommand_from show" -s o -l output -x -a 'text json' -d 'output format'
# witness init, serve, cosign.
complete -c tallinn-audit -n "__fish_seen_subcommand_from witness; and not __fish_seen_subcommand_from $subs" -a init -d "write a witness's key and print its verifier key"
complete -c tallinn-audit -n "__fish_seen_subcommand_from witness; and not __fish_seen_subcommand_from $subs" -a serve -d 'serve C2SP tlog-witness for the logs given'
complete -c tallinn-audit -n "__fish_seen_subcommand_from witness; and not __fish_seen_subcommand_from $subs" -a cosign -d 'ask witnesses to cosign a tlog-tiles log'
complete -c tallinn-audit -n "__fish_seen_subcommand_from init serve" -l dir -x -a '(__fish_complete_directories)' -d 'the witness directory'
complete -c tallinn-audit -n "__fish_seen_subcommand_from init" -l name -x -d 'the witness name'
complete -c tallinn-audit -n "__fish_seen_subcommand_from serve" -l listen -x -d 'address to listen on, host:port'
complete -c tallinn-audit -n "__fish_seen_subcommand_from serve" -l log -r -F -d "a log's verifier key, or a file holding it"
complete -c tallinn-audit -n "__fish_seen_subcommand_from serve" -l tls-cert -r -F -d 'certificate chain for HTTPS (PEM)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from serve" -l tls-key -r -F -d 'its private key (PEM)'
complete -c tallinn-audit -n "__fish_seen_subcommand_from serve" -l prefix -x -d 'the path the endpoints live under'
complete -c tallinn-audit -n "__fish_seen_subcommand_from cosign" -s w -l witness -x -d "a witness: 'VKEY URL'"
complete -c tallinn-audit -n "__fish_seen_subcommand_from cosign" -s Q -l quorum -x -d 'cosignatures needed'
