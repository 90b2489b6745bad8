"""Load generation: Locust users, profiles (shapes), exact recording, distributed runs.

Importable without Locust: `profiles`, `shapes`, `recorder`, `aggregator`, `journal`,
`config`, `launch`, `locustfile` (until it loads a file), `messages`, `metrics`,
`progress`. The modules that generate load (`engine`, `master`, `worker`, `users`,
`run_shape`, `timeline_runner`, `live`) import Locust, which monkey-patches the process
with gevent, so only load-generating processes import them.
"""
