#compdef tallinn-audit
# zsh completion for tallinn-audit. Kept by hand; make install puts it in
# share/zsh/vendor-completions (or site-functions) as _tallinn-audit.
# tests/integration/install_test.py checks the options it offers against each
# command's --help.
# The context names of tallinnctl's config file, as tallinnctl lists them.
_tallinn-audit_contexts() {
    local -a names
    names=(${(f)"$(tallinnctl config get-contexts -o name 2>/dev/null)"})
    compadd -a names
}

_tallinn-audit() {
    local curcontext=$curcontext state line
    local -a conn wit key help quiet
    conn=(
        '(-s --server)'{-s,--server}'[the live server, host:port (AUDITOR)]:address: '
        '--token-file[file holding the bearer token]:token file:_files'
        '--insecure[plaintext (loopback, tests)]'
        '--ca[TLS roots to check the server with (PEM)]:file:_files'
        '--cert[client certificate for mutual TLS (PEM)]:file:_files'
        '--cert-key[client key for mutual TLS (PEM)]:file:_files'
        '--server-name[TLS name to check instead of the host]:name: '
        '--timeout[seconds per request]:seconds: '
        '--verbose[one line on stderr per call]'
        "--context[a context of tallinnctl's config file]:context:_tallinn-audit_contexts"
    )
    wit=(
        '*'{-W,--witness}'[a witness whose cosignature counts]:witness key or file:_files'
        '--quorum[valid cosignatures required]:count: '
    )
    key=('(-k --key)'{-k,--key}"[the log's verifier key, or a file holding it]:key or file:_files")
    help=('(- *)'{-h,--help}'[show the help of this command]')
    quiet=('(-q --quiet)'{-q,--quiet}'[print nothing on success]')
    _arguments -C \
        '(- *)--help[list the commands]' \
        '(- *)--version[print the version]' \
        '1:command:->command' \
        '*::argument:->argument'
    case $state in
    (command)
        local -a cmds
        cmds=(
            "verify:verify a tlog-tiles directory, or a live server's log"
            "check-proof:verify a tlog-proof file, and an entry's inclusion"
            'prove:write a tlog-proof file for one record of a live server'
            'show:print the records of a tlog-tiles directory or a server'
            'witness:run a witness (init, serve), or ask witnesses to cosign (cosign)'
            'help:list the commands'
        )
        _describe -t commands 'tallinn-audit command' cmds
        ;;
    (argument)
        case $line[1] in
        (verify)
            _arguments -s $key $conn $wit $quiet $help \
                '--state[the last verified checkpoint]:file:_files' \
                '1:tlog-tiles directory:_files -/'
            ;;
        (check-proof)
            _arguments -s $key $wit $quiet $help \
                '(-e --entry)'{-e,--entry}'[the file holding the logged entry]:file:_files' \
                '1:tlog-proof file:_files'
            ;;
        (prove)
            _arguments -s $key $conn $wit $quiet $help \
                '--proof-out[where to write the proof]:file:_files' \
                '(-e --entry-out)'{-e,--entry-out}"[also write the record's leaf bytes]:file:_files" \
                '1:record index: '
            ;;
        (show)
            _arguments -s $key $conn $help \
                '--from[first record index]:index: ' \
                '--to[last record index, included]:index: ' \
                '(-o --output)'{-o,--output}'[output format]:format:(text json)' \
                '1:tlog-tiles directory:_files -/'
            ;;
        (witness)
            if (( CURRENT == 2 )); then
                local -a subs
                subs=(
                    "init:write a witness's key and print its verifier key"
                    'serve:serve C2SP tlog-witness for the logs given'
                    'cosign:ask witnesses to cosign a tlog-tiles log'
                )
                _describe -t commands 'witness command' subs
                return
            fi
            local sub=$words[2]
            shift words
            (( CURRENT-- ))
            case $sub in
            (init)
                _arguments -s $help \
                    '--dir[the witness directory]:directory:_files -/' \
                    '--name[the witness name]:name: '
                ;;
            (serve)
                _arguments -s $help \
                    '--dir[the witness directory]:directory:_files -/' \
                    '--listen[address to listen on, host:port]:address: ' \
                    "*--log[a log's verifier key, or a file holding it]:key or file:_files" \
                    '--tls-cert[certificate chain for HTTPS (PEM)]:file:_files' \
                    '--tls-key[its private key (PEM)]:file:_files' \
                    '--prefix[the path the endpoints live under]:path: '
                ;;
            (cosign)
                _arguments -s $key $help \
                    '*'{-w,--witness}"[a witness: 'VKEY URL']:witness key and URL: " \
                    '(-Q --quorum)'{-Q,--quorum}'[cosignatures needed]:count: ' \
                    '--ca[PEM roots for HTTPS witnesses]:file:_files' \
                    '--timeout[seconds per request]:seconds: ' \
                    '1:tlog-tiles directory:_files -/'
                ;;
            esac
            ;;
        esac
        ;;
    esac
}
# Autoloaded from $fpath, this file is the body of _tallinn-audit: run it.
# Sourced, register it.
if [[ $funcstack[1] == _tallinn-audit ]]; then
    _tallinn-audit "$@"
else
    compdef _tallinn-audit tallinn-audit
fi
