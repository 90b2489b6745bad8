"""Tests of the scenario runner: checks before the start, read-back, real scenario runs."""
