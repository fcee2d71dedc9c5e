# Sourced by scripts/test (which .ci/run calls): makes SoftHSM2 available
# for the PKCS#11 tests (crates/hsm), installing Debian's softhsm2 (and
# opensc, for pkcs11-tool) with apt-get when softhsm2-util is missing.
# Exports:
#   TRENT_SOFTHSM_MODULE   path of libsofthsm2.so
#   TRENT_REQUIRE_SOFTHSM  1: a missing SoftHSM2 fails the PKCS#11 tests
#                          instead of skipping them
# Each test makes its own token in a temporary directory (its own
# SOFTHSM2_CONF); nothing here creates or touches a token.

softhsm_find_module() {
  local candidate
  for candidate in \
    "${TRENT_SOFTHSM_MODULE:-}" \
    /usr/lib/softhsm/libsofthsm2.so \
    /usr/lib/"$(uname -m)"-linux-gnu/softhsm/libsofthsm2.so \
    /usr/lib64/softhsm/libsofthsm2.so \
    /usr/lib64/pkcs11/libsofthsm2.so \
    /usr/local/lib/softhsm/libsofthsm2.so \
    /opt/homebrew/lib/softhsm/libsofthsm2.so; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v dpkg >/dev/null 2>&1; then
    candidate=$(dpkg -L libsofthsm2 2>/dev/null | grep '/libsofthsm2\.so$' | head -n 1 || true)
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  fi
  return 1
}

if ! command -v softhsm2-util >/dev/null 2>&1 || ! softhsm_find_module >/dev/null; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== installing SoftHSM2 (softhsm2, opensc) for the PKCS#11 tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends softhsm2 opensc >/dev/null
  else
    echo "== SoftHSM2 is missing and cannot be installed here (needs apt-get as root):" \
      "install softhsm2 to run the PKCS#11 tests" >&2
  fi
fi

if TRENT_SOFTHSM_MODULE=$(softhsm_find_module); then
  export TRENT_SOFTHSM_MODULE
fi
export TRENT_REQUIRE_SOFTHSM=1
