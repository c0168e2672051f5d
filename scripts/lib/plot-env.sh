# Sourced by scripts that draw plots: matplotlib in a git-ignored virtualenv (.venv-plot), made
# on first use from PyPI. Sets PLOT_PYTHON.
if [ ! -x .venv-plot/bin/python ]; then
  python3 -m venv .venv-plot
  .venv-plot/bin/pip install --quiet --disable-pip-version-check "matplotlib>=3.8,<4"
fi
PLOT_PYTHON=.venv-plot/bin/python
