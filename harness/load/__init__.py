"""Load generation: Locust users, profiles (shapes), exact recording, distributed runs.

Importable without Locust: `profiles`, `shapes`, `recorder`, `aggregator`, `journal`,
`config`, `launch`, `locustfile` (until it loads a file), `messages`. The modules
that generate load (`engine`, `master`, `worker`, `users`) import Locust, which
monkey-patches the process with gevent, so only load-generating processes import them.
"""
