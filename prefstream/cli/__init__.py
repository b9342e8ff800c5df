"""The `prefstream` command: one module per command group, assembled in `prefstream.cli.main`."""
