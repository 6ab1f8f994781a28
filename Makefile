# The two Quickstart commands: `make demo` and `make test`. Both build .venv from scratch if needed.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_OUT ?= out/demo

.PHONY: install demo test notebooks clean

$(BIN)/emowb: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $@

install: $(BIN)/emowb

demo: install
	$(BIN)/emowb demo --out $(DEMO_OUT)

test: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

notebooks: install
	$(BIN)/emowb notebooks --out $(DEMO_OUT)

clean:
	rm -rf $(VENV) out
