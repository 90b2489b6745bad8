"""Distributed load-and-resilience testing harness.

Importing this package is free: it loads no heavy library and patches nothing.
Locust and gevent are imported only by the processes that generate load or serve.
"""

from harness.errors import ConfigError, HarnessError, RunFailed

__version__ = "0.1.0"

__all__ = ["ConfigError", "HarnessError", "RunFailed", "__version__"]
