"""Runtime: turns a compiled plan into gevent virtual users and measures them.

Imports nothing of YAML, jsonschema or Click (see tests/test_layering.py).
"""
