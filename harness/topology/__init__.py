"""The reference deployment: regions of service processes, a router that fails over and
injects network faults (toxics), a primary database with a standby and backups, and a
supervisor that restarts crashed processes. Importing this package loads nothing heavy;
the router's gevent data plane runs only in its own process.
"""
