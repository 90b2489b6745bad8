"""`python -m harness` runs the command line."""

from harness.cli import run_program

run_program()
