"""Builds the notebooks from their source, so what is reviewed is plain
Python: analysis.ipynb from cells_analysis.py, compare.ipynb from
cells_compare.py, sim.ipynb from cells_sim.py. The committed .ipynb files are these builds, unexecuted.

    python3 notebooks/build_notebooks.py             # write the notebooks
    python3 notebooks/build_notebooks.py --check     # exit 1 if a committed one differs
    .venv/bin/python notebooks/build_notebooks.py --validate   # nbformat's schema check

Building and --check use the standard library only, so the check runs
before the notebook venv exists; --validate reads each build back with
nbformat (from the venv) and checks it against the notebook schema, so a
build that is not a valid notebook fails scripts/test notebooks."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cells_analysis  # noqa: E402
import cells_compare  # noqa: E402
import cells_sim  # noqa: E402

NOTEBOOKS = {
    "analysis.ipynb": cells_analysis.CELLS,
    "compare.ipynb": cells_compare.CELLS,
    "sim.ipynb": cells_sim.CELLS,
}


def cell(number, kind, source):
    lines = source.splitlines(keepends=True)
    common = {"id": f"cell-{number}", "metadata": {}, "source": lines}
    if kind == "markdown":
        return {"cell_type": "markdown", **common}
    return {"cell_type": "code", "execution_count": None, "outputs": [], **common}


def build(cells):
    """The notebook's JSON text."""
    notebook = {
        "cells": [cell(i, kind, source) for i, (kind, source) in enumerate(cells)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1) + "\n"


def validate():
    """Reads each build with nbformat and validates it; 1 if one fails."""
    import nbformat  # the venv's; see the module doc

    for name, cells in NOTEBOOKS.items():
        try:
            nbformat.validate(nbformat.reads(build(cells), as_version=4))
        except nbformat.ValidationError as e:
            print(f"{name}: not a valid notebook: {e}", file=sys.stderr)
            return 1
        print(f"{name}: valid nbformat {nbformat.current_nbformat}")
    return 0


def main(argv):
    if argv == ["--validate"]:
        return validate()
    check = argv == ["--check"]
    if argv and not check:
        print("usage: build_notebooks.py [--check | --validate]", file=sys.stderr)
        return 2
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = HERE / name
        text = build(cells)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"notebooks differ from their source build: {', '.join(stale)}; "
              "run python3 notebooks/build_notebooks.py and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
