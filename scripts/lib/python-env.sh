# Sourced by scripts/test and scripts/crash-loop: installs what the Python
# tests need into .venv on first use (and again when requirements change).
if [ ! -x .venv/bin/pytest ] || ! cmp -s tests/python/requirements.txt .venv/requirements.txt; then
  echo "== installing the Python test clients into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt .venv/requirements.txt
fi
