"""Stage 1 and 2 of the pipeline: load a scenario file (YAML with positions) and validate it.

`loader` reads YAML into a `Document` that remembers where every node came from;
`schema` holds the JSON Schema; `schema_errors` words jsonschema's errors for
people; `validate` is what `yamlswarm validate` runs.
"""
