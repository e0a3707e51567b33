"""``python -m convshape``."""

from convshape.cli import main

main()
