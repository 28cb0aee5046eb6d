"""`python -m tapegrad`: a short tour that runs the autograd tutorial's steps live.

Each step prints the line of code, then what it printed. The code is ordinary PyTorch code
with `import tapegrad as torch` in place of `import torch`.
"""

from __future__ import annotations

import contextlib
import io
import textwrap

STEPS = [
    ("Tensors that track history", """
import tapegrad as torch
x = torch.ones(2, 2, requires_grad=True)
print(x)
y = x + 2
print(y)
print(y.grad_fn)
z = y * y * 3
out = z.mean()
print(z, out)
"""),
    ("requires_grad_ flips the flag in place", """
a = torch.randn(2, 2)
a = ((a * 3) / (a - 1))
print(a.requires_grad)
a.requires_grad_(True)
print(a.requires_grad)
b = (a * a).sum()
print(b.grad_fn)
"""),
    ("Gradients: d(out)/dx is 4.5 everywhere", """
out.backward()
print(x.grad)
"""),
    ("A second backward needs retain_graph=True (y = x * 3 saved a value)", """
x = torch.ones(2, 2, requires_grad=True)
y = x * 3
y.backward(torch.ones(2, 2))
try:
    y.backward(torch.ones(2, 2))
except RuntimeError as e:
    print("RuntimeError:", str(e)[:78], "...")
"""),
    ("A Jacobian-vector product: pass the vector to backward", """
x = torch.randn(3, requires_grad=True)
y = x * 2
while y.data.norm() < 1000:
    y = y * 2
v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
y.backward(v)
print(x.grad)
"""),
    ("no_grad stops the recording", """
print(x.requires_grad)
print((x ** 2).requires_grad)
with torch.no_grad():
    print((x ** 2).requires_grad)
"""),
    ("detach() gives a tensor with the same values outside the graph", """
y = x.detach()
print(y.requires_grad)
print(x.eq(y).all())
"""),
    ("Second derivatives: grad of grad", """
t = torch.tensor(2.0, requires_grad=True)
(dy,) = torch.autograd.grad(t ** 3, t, create_graph=True)
(d2y,) = torch.autograd.grad(dy, t)
print(dy, d2y)
"""),
]


def main() -> None:
    env: dict = {}
    for title, code in STEPS:
        print(f"# {title}")
        for line in textwrap.dedent(code).strip().splitlines():
            print(f">>> {line}" if not line.startswith((" ", "except", "else")) else f"... {line}")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(textwrap.dedent(code), env)  # noqa: S102 - the tour runs its own fixed code
        print(buf.getvalue(), end="")
        print()


if __name__ == "__main__":
    main()
