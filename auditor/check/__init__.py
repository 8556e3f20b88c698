"""``auditor check``: the audits of a configuration file, run as a scheduled job runs them:
its configuration, the run, the lock against overlapping runs, and the state kept between
runs with the drift since the last one."""
