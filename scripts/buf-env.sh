# Sourced by scripts/buf-lint and scripts/buf-breaking: installs the pinned
# buf from npm into build/tools/buf on first use (npm's cache makes later
# installs offline) and sets $buf to it. Needs $root (the repository).
BUF_VERSION=1.75.0

buf_prefix="$root/build/tools/buf"
buf="$buf_prefix/node_modules/.bin/buf"

buf_installed=""
if [ -x "$buf" ]; then
    buf_installed=$("$buf" --version 2>/dev/null || true)
fi
if [ "$buf_installed" != "$BUF_VERSION" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "buf: npm not found; run scripts/install-deps" >&2
        exit 1
    fi
    mkdir -p "$buf_prefix"
    # --prefer-offline: use npm's cache when it has this exact version.
    if ! npm install --prefix "$buf_prefix" --no-save --no-audit --no-fund \
            --prefer-offline --loglevel=error "@bufbuild/buf@$BUF_VERSION" >/dev/null; then
        echo "buf: could not install @bufbuild/buf@$BUF_VERSION from npm" >&2
        exit 1
    fi
    buf_installed=$("$buf" --version 2>/dev/null || true)
    if [ "$buf_installed" != "$BUF_VERSION" ]; then
        echo "buf: expected buf $BUF_VERSION, got '${buf_installed:-nothing}'" >&2
        exit 1
    fi
fi
