"""Put tests/ on sys.path so test modules can `import op_db` and `import _helpers`."""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
