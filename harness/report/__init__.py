"""Reports of run directories: the self-contained HTML report and the suite index.

`write_report(run_dir, baseline=None)` (harness.report.html) and
`write_suite_index(suite_dir, run_dirs)` (harness.report.suite) are the entry points; both
read only run directories. Import them from their modules: this package imports nothing
heavy by itself.
"""
