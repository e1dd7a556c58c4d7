"""Cluster mode: the pipeline stages run as procrastinate jobs on the PostgreSQL database the data lives in.

The embedded daemon (`repmon run`) drives the same stage functions from APScheduler in one process;
only the driver differs. See docs/operations.md for when to use which.
"""
