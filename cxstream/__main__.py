"""``python -m cxstream`` runs the command line."""

from cxstream.cli import main

main()
