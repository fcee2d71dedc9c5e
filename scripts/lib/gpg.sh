# Sourced by scripts/test: installs Debian's `gnupg` when `gpg` is missing
# (as root, with apt-get), so the test that makes OpenPGP keys with the
# real `gpg` and opens the Shamir shares encrypted to them runs in CI too
# (root_of_trust_hardening; it skips where gpg is missing).
if ! command -v gpg >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== installing gnupg for the OpenPGP-encrypted share test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnupg >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnupg >/dev/null; } \
      || echo "== gnupg could not be installed: its share test will skip" >&2
  fi
fi
