# The two set-up commands of the README. Both build .venv from setup.py + constraints.txt first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test
demo: $(VENV)/.installed
	$(VENV)/bin/inpaint-pairs demo

test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider tests

$(VENV)/.installed: setup.py constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all]'
	touch $@
