"""The README's op list is generated from the op registry and must not drift from it."""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_op_list_is_current():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import ops_list
    finally:
        sys.path.pop(0)
    readme = (ROOT / "README.md").read_text()
    assert ops_list.render() in readme, "run `python tools/ops_list.py --write`"
