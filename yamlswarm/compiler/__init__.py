"""Stage 3 of the pipeline: a schema-valid `Document` -> a frozen `yamlswarm.plan.Plan`.

`document` compiles the whole file; `sections` the load model, data feeds and
thresholds; `steps` the steps, each through its kind in `yamlswarm.kinds`;
`context` collects problems with their positions and checks the names every
template reads. Nothing here imports gevent or the network (tests/test_layering.py).
"""

from __future__ import annotations

from yamlswarm.compiler.document import HOOK_MODES, compile_document, env_mapping

__all__ = ["HOOK_MODES", "compile_document", "env_mapping"]
