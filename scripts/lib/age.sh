# Sourced by scripts/test: installs Debian's `age` when missing (as root,
# with apt-get), so the test that opens age-encrypted Shamir shares with
# the real `age` binary runs in CI too (root_of_trust_hardening; it skips
# where age is missing).
if ! command -v age >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== installing age for the age-encrypted share test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends age >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends age >/dev/null; } \
      || echo "== age could not be installed: its share test will skip" >&2
  fi
fi
