"""Runtime: turns a compiled plan into gevent virtual users and measures them.

Stage 4 of the pipeline. Imports nothing of YAML, jsonschema or Click (tests/test_layering.py).
"""
