"""The root of every error prefstream raises on purpose, and the exit codes the `prefstream` command gives.

A `PrefstreamError` says what is wrong in one line, naming fields and settings, never personal data.
The command prints that line and exits with the error's `exit_code`.
"""

from __future__ import annotations

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_SETUP, EXIT_UNREACHABLE = 0, 1, 2, 3, 4


class PrefstreamError(Exception):
    """An error prefstream raises on purpose; `exit_code` is the command's exit code for it."""

    exit_code = EXIT_PROBLEM
    hint = ""  # what the command adds to the line, e.g. how to start what was unreachable
