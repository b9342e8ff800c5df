"""`python -m prefstream` runs the command line."""

from prefstream.cli import main

main()
