"""`python -m tapegrad`: a short tour that runs the autograd tutorials' steps live.

Each statement is echoed as at the Python prompt (``>>>``, with ``...`` for the lines of a
block), then run, so what it prints appears right below it. The code is ordinary PyTorch code
with ``import tapegrad as torch`` in place of ``import torch``.
"""

from __future__ import annotations

import ast
import textwrap

STEPS = [
    ("Tensors that track history", """
import tapegrad as torch
torch.manual_seed(0)
x = torch.ones(2, 2, requires_grad=True)
print(x)
y = x + 2
print(y)
print(y.grad_fn)
z = y * y * 3
out = z.mean()
print(z, out)
"""),
    ("requires_grad_() flips the flag in place", """
a = torch.randn(2, 2)
a = ((a * 3) / (a - 1))
print(a.requires_grad)
a.requires_grad_(True)
print(a.requires_grad)
b = (a * a).sum()
print(b.grad_fn)
"""),
    ("Gradients: d(out)/dx = 3(x + 2)/2 = 4.5 everywhere", """
out.backward()
print(x.grad)
"""),
    ("y = x + 2 saved nothing, so it can backward twice (gradients accumulate)", """
x = torch.ones(2, 2, requires_grad=True)
y = x + 2
y.backward(torch.ones(2, 2), retain_graph=True)
print(x.grad)
y.backward(torch.full((2, 2), 0.5))
print(x.grad)
"""),
    ("y = x * 3 saved a value: a second backward needs retain_graph=True", """
x = torch.ones(2, 2, requires_grad=True)
y = x * 3
y.backward(torch.ones(2, 2))
try:
    y.backward(torch.ones(2, 2))
except RuntimeError as e:
    print("RuntimeError:", str(e).split(".")[0] + ". ...")
"""),
    ("A vector-Jacobian product: pass the vector to backward", """
x = torch.randn(3, requires_grad=True)
y = x * 2
while y.data.norm() < 1000:
    y = y * 2
print(y)
v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
y.backward(v)
print(x.grad)
"""),
    ("no_grad() stops the recording", """
print(x.requires_grad)
print((x ** 2).requires_grad)
with torch.no_grad():
    print((x ** 2).requires_grad)
"""),
    ("detach() gives the same values outside the graph", """
y = x.detach()
print(y.requires_grad)
print(x.eq(y).all())
"""),
    ("Second derivatives: differentiate the gradient (create_graph=True)", """
t = torch.tensor(2.0, requires_grad=True)
(dy,) = torch.autograd.grad(t ** 3, t, create_graph=True)
(d2y,) = torch.autograd.grad(dy, t)
print(dy, d2y)
"""),
]


def _statements(code: str):
    """Yield (source lines, compiled code) for each top-level statement of `code`."""
    lines = code.splitlines()
    for node in ast.parse(code).body:
        src = lines[node.lineno - 1:node.end_lineno]
        module = ast.Module(body=[node], type_ignores=[])
        yield src, compile(module, "<tapegrad tour>", "exec")


def main() -> None:
    env: dict = {}
    for title, code in STEPS:
        print(f"# {title}")
        for src, compiled in _statements(textwrap.dedent(code).strip()):
            print(f">>> {src[0]}")
            for line in src[1:]:
                print(f"... {line}")
            exec(compiled, env)  # noqa: S102 - the tour runs its own fixed code
        print()


if __name__ == "__main__":
    main()
