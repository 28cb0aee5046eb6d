"""Runnable examples: `python -m tapegrad.examples.digits` trains a digit classifier.

They need the `examples` extra (`pip install tapegrad[examples]`: scikit-learn, tqdm,
matplotlib); tapegrad itself needs only NumPy.
"""
