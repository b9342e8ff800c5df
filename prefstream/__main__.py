"""`python -m prefstream` runs the command line."""

from prefstream.cli.main import main

main()
