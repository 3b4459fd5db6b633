"""The export logic: what to export, how a window is split, and how a partition is written.

Plain Python with no Dagster in it, so that the command line and the tests use it directly.
"""
