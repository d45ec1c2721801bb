# bash completion for tallinn-audit. Kept by hand; make install puts it in
# share/bash-completion/completions. tests/integration/install_test.py checks
# the options it offers against each command's --help.
_tallinn_audit() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd opts conn wit
    if ((COMP_CWORD == 1)); then
        mapfile -t COMPREPLY < <(compgen -W $'verify\ncheck-proof\nprove\nshow\nwitness\nhelp\n--help\n--version' -- "$cur")
        return 0
    fi
    cmd=${COMP_WORDS[1]}
    if [[ $cmd == witness ]]; then
        if ((COMP_CWORD == 2)); then
            mapfile -t COMPREPLY < <(compgen -W $'init\nserve\ncosign' -- "$cur")
            return 0
        fi
        cmd="witness ${COMP_WORDS[2]}"
    fi
    case $prev in
    -k | --key | --token-file | --ca | --cert | --cert-key | --state | -e | --entry | --entry-out | \
        --log | --tls-cert | --tls-key)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        compopt -o filenames 2>/dev/null
        return 0 ;;
    -W | --witness)
        if [[ $cmd != "witness cosign" ]]; then # a key or a file; cosign's is 'VKEY URL'
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            compopt -o filenames 2>/dev/null
        fi
        return 0 ;;
    --dir)
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        compopt -o filenames 2>/dev/null
        return 0 ;;
    -o | --output)
        mapfile -t COMPREPLY < <(compgen -W $'text\njson' -- "$cur")
        return 0 ;;
    --proof-out)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        compopt -o filenames 2>/dev/null
        return 0 ;;
    --context) # tallinnctl's config file's contexts, as tallinnctl lists them
        mapfile -t COMPREPLY < <(compgen -W "$(tallinnctl config get-contexts -o name 2>/dev/null)" -- "$cur")
        return 0 ;;
    -s | --server | --server-name | --timeout | --from | --to | --quorum | -Q | -w | --name | \
        --listen | --prefix)
        return 0 ;;
    esac
    conn=$'--server\n--context\n--token-file\n--insecure\n--ca\n--cert\n--cert-key\n--server-name\n--timeout\n--verbose'
    wit=$'--witness\n--quorum'
    case $cmd in
    verify) opts=$'--key\n--state\n--quiet\n--help\n'$conn$'\n'$wit ;;
    check-proof) opts=$'--key\n--entry\n--quiet\n--help\n'$wit ;;
    prove) opts=$'--key\n--proof-out\n--entry-out\n--quiet\n--help\n'$conn$'\n'$wit ;;
    show) opts=$'--from\n--to\n--output\n--key\n--help\n'$conn ;;
    "witness init") opts=$'--dir\n--name\n--help' ;;
    "witness serve") opts=$'--dir\n--listen\n--log\n--tls-cert\n--tls-key\n--prefix\n--help' ;;
    "witness cosign") opts=$'--key\n--witness\n--quorum\n--ca\n--timeout\n--help' ;;
    *) return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    elif [[ $cmd == verify || $cmd == show || $cmd == "witness cosign" ]]; then
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        compopt -o filenames 2>/dev/null
    elif [[ $cmd == check-proof ]]; then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        compopt -o filenames 2>/dev/null
    fi
    return 0
}
complete -F _tallinn_audit tallinn-audit
