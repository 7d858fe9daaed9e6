# The two set-up commands of the README. Both build .venv from setup.py + constraints.txt first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test
demo: $(VENV)/.installed
	$(VENV)/bin/inpaint-pairs demo

test: $(VENV)/.installed
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || echo "chromium could not be installed: the report's browser test will be skipped"
	$(PY) -m pytest -q -p no:cacheprovider tests

$(VENV)/.installed: setup.py constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all]'
	touch $@
