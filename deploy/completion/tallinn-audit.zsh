#compdef tallinn-audit
# zsh completion for tallinn-audit. Kept by hand; make install puts it in
# share/zsh/vendor-completions (or site-functions) as _tallinn-audit.
# tests/integration/install_test.py checks the options it offers against each
# command's --help.
_tallinn-audit() {
    local curcontext=$curcontext state line
    local -a conn key help quiet
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
            'help:list the commands'
        )
        _describe -t commands 'tallinn-audit command' cmds
        ;;
    (argument)
        case $line[1] in
        (verify)
            _arguments -s $key $conn $quiet $help \
                '--state[the last verified checkpoint]:file:_files' \
                '1:tlog-tiles directory:_files -/'
            ;;
        (check-proof)
            _arguments -s $key $quiet $help \
                '(-e --entry)'{-e,--entry}'[the file holding the logged entry]:file:_files' \
                '1:tlog-proof file:_files'
            ;;
        (prove)
            _arguments -s $key $conn $quiet $help \
                '(-o --output)'{-o,--output}'[where to write the proof]:file:_files' \
                '(-e --entry-out)'{-e,--entry-out}"[also write the record's leaf bytes]:file:_files" \
                '1:record index: '
            ;;
        (show)
            _arguments -s $key $conn $help \
                '--from[first record index]:index: ' \
                '--to[last record index, included]:index: ' \
                '(-o --output)'{-o,--output}'[output format]:format:(table json)' \
                '1:tlog-tiles directory:_files -/'
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
