"""Compatibility layers that let old comparison drivers run on the Python we use.

Each module here is imported for its side effects, only in the worker process of the
driver that needs it, never by loadtnt itself.
"""
