"""``python -m convshape``."""

from convshape.cli import run

run()
