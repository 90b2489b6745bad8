"""Load generation: Locust users, profiles (shapes), exact recording, distributed runs.

Only `profiles`, `recorder`, `aggregator` and `shapes` are importable without Locust; the
modules that start load (`master`, `worker`, `users`, `engine`) import Locust, which
monkey-patches the process with gevent, so only load-generating processes import them.
"""
