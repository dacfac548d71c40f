"""The compiler: a schema-valid scenario Document -> a frozen `Plan`, or every problem at once.

    compile_document(doc)                        # run: variables rendered, constants folded
    compile_document(doc, render_variables=False)  # validate: templates stay templates

The sections are compiled by `compiler.sections` (load, data, thresholds) and
`compiler.steps` (steps, through the step-kind registry `yamlswarm.kinds`, and
waits); `compiler.context.Context` collects the problems and checks the
names every `{{ }}` template reads.
"""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yamlswarm.compiler.blocks import Blocks
from yamlswarm.compiler.context import BUILTIN_NAMES, Context, JsonPath
from yamlswarm.compiler.metrics import compile_metrics
from yamlswarm.compiler.rows import check_threshold_rows
from yamlswarm.compiler.sections import (
    check_counts,
    compile_feed,
    compile_load,
    compile_thresholds,
)
from yamlswarm.compiler.steps import assigned_names, compile_steps, step_env, user_wait
from yamlswarm.compiler.wire_defaults import compile_limits, compile_proxy, compile_tls
from yamlswarm.errors import HookImportError, ScenarioError
from yamlswarm.hookmodules import HookModules, failure_summary, load_hooks, resolve_spec
from yamlswarm.kinds.base import CompileEnv, RequestDefaults
from yamlswarm.kinds.request import compile_headers
from yamlswarm.plan import Defaults, Flow, Plan, UserType
from yamlswarm.scenario.loader import Document
from yamlswarm.templates import Template, base_context

__all__ = ["HOOK_MODES", "compile_document", "env_mapping"]

HOOK_MODES = ("problem", "raise", "skip")


def env_mapping(env: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """Values for `{{ env.KEY }}`: the given ones (from -e), then the real environment."""
    return ChainMap(dict(env or {}), os.environ)


def compile_document(
    doc: Document,
    *,
    env: Mapping[str, str] | None = None,
    render_variables: bool = True,
    hooks: str = "problem",
) -> Plan:
    """Compile a loaded, schema-valid scenario; raises ScenarioError with every problem found.

    `hooks`: "problem" reports a hook module that fails to import as a located
    problem, "raise" re-raises its HookImportError (run: exit 3), "skip" does
    not import hook modules (nor check `call:` steps and template functions).
    """
    if hooks not in HOOK_MODES:
        raise ValueError(f"hooks must be one of {HOOK_MODES}, got {hooks!r}")
    ctx = Context(doc, env=env_mapping(env), render_variables=render_variables)
    data = doc.data if isinstance(doc.data, dict) else {}
    if not isinstance(doc.data, dict):
        ctx.error((), "a scenario is a mapping with at least 'version' and 'users'")
    plan = _compile(ctx, data, hooks)
    if ctx.problems:
        raise ScenarioError(ctx.problems)
    return plan


def _compile(ctx: Context, data: dict, hook_mode: str) -> Plan:
    user_names = _user_variables(data.get("users"), data.get("blocks"))
    variables = _variables(ctx, data.get("variables"), user_names)
    hook_specs, hook_modules = _hooks(ctx, data.get("hooks"), hook_mode)
    feeds = {}
    for name, raw in ctx.mapping(("data",), data.get("data")).items():
        feeds[str(name)] = compile_feed(ctx, str(name), raw)
    ctx.feeds = {name: (feed.columns if feed else None) for name, feed in feeds.items()}
    template_functions = set(hook_modules.template_functions) if hook_modules else set()
    ctx.lenient_calls = hook_modules is None  # skipped or failed: template functions unknown
    ctx.scope = frozenset(
        BUILTIN_NAMES | set(variables) | user_names | template_functions | set(base_context())
    )
    defaults, request_defaults = _defaults(ctx, data.get("defaults"))
    metrics = compile_metrics(ctx, data.get("metrics"))
    kinds = {m.name: m.kind for m in metrics}
    blocks = Blocks(ctx, data.get("blocks"))
    env = blocks.env = step_env(
        request_defaults, hook_modules, tuple(hook_specs), blocks.use, kinds
    )
    load, cap = compile_load(ctx, data.get("load"))
    users = _users(ctx, data.get("users"), env)
    blocks.compile_unused(ctx)
    check_counts(
        ctx,
        data.get("load"),
        [u.count for u in users if u.count is not None],
        all(u.count is not None for u in users),
    )
    faker = ctx.mapping(("faker",), data.get("faker"))
    thresholds = compile_thresholds(ctx, data.get("thresholds"), kinds)
    check_threshold_rows(ctx, thresholds, users, kinds, hooks=bool(hook_specs))
    return Plan(
        name=str(data.get("name") or Path(ctx.doc.file).stem),
        file=str(Path(ctx.doc.file).resolve()),
        host=_host(ctx, data.get("host"), variables),
        load=load,
        users=users,
        variables=variables,
        defaults=defaults,
        data=tuple(feed for feed in feeds.values() if feed is not None),
        faker_locale=faker.get("locale"),
        hooks=tuple(resolve_spec(spec, ctx.doc.base_dir) for spec in hook_specs),
        thresholds=thresholds,
        iterations_cap=cap,
        source=ctx.source(()),
        metrics=metrics,
    )


def _user_variables(users: Any, blocks: Any) -> frozenset[str]:
    """Every name any step of any user type or block may assign (extract, set, loop `as`)."""
    names: set[str] = set()
    for steps in (blocks or {}).values() if isinstance(blocks, dict) else ():
        names.update(assigned_names(steps))
    for user in users if isinstance(users, list) else ():
        if not isinstance(user, dict):
            continue
        names.update(assigned_names(user.get("on_start")))
        names.update(assigned_names(user.get("on_stop")))
        for flow in user.get("flows") or ():
            if isinstance(flow, dict):
                names.update(assigned_names(flow.get("steps")))
    return frozenset(names)


# ---------------------------------------------------------------- variables and host


def _variables(ctx: Context, raw: Any, user_names: frozenset[str]) -> dict[str, Any]:
    """Scenario variables in order; rendered now when `render_variables` (each sees earlier)."""
    out: dict[str, Any] = {}
    globals_ = set(base_context())
    for name, value in ctx.mapping(("variables",), raw).items():
        path: JsonPath = ("variables", name)
        scope = frozenset({"env", *out, *globals_})
        compiled = ctx.value(path, value, scope)
        if ctx.render_variables:
            if isinstance(compiled, Template):  # reads earlier variables: render it now
                context = {**base_context(), **ctx.fold_context}
                compiled = ctx.render(path, compiled, context)[1]
            ctx.fold_context[str(name)] = compiled
        out[str(name)] = compiled
    ctx.fold_names = frozenset({"env", *out} - user_names)
    return out


def _host(ctx: Context, raw: Any, variables: dict[str, Any]) -> str | None:
    if raw is None:
        return None
    value = ctx.value(("host",), raw, frozenset({"env", *variables}))
    if isinstance(value, Template):
        return str(raw)  # validate: not rendered
    return None if value is None else str(value)


# ---------------------------------------------------------------- defaults and hooks


def _defaults(ctx: Context, raw: Any) -> tuple[Defaults, RequestDefaults]:
    block = ctx.mapping(("defaults",), raw)
    tls = compile_tls(ctx, block)
    defaults = Defaults(
        timeout=ctx.seconds(("defaults", "timeout"), block.get("timeout"), 30.0),
        follow_redirects=bool(block.get("follow_redirects", True)),
        verify_tls=tls.verify,
        tls=tls,
        proxy=compile_proxy(ctx, block.get("proxy")),
        limits=compile_limits(ctx, block.get("limits")),
        max_redirects=ctx.integer(
            ("defaults", "max_redirects"), block.get("max_redirects"), 10, minimum=0
        ),
        headers=compile_headers(ctx, block.get("headers"), ("defaults", "headers")),
    )
    headers = defaults.headers
    return defaults, RequestDefaults(
        headers,
        defaults.timeout,
        defaults.follow_redirects,
        defaults.verify_tls,
        tls,
        defaults.proxy,
    )


def _hooks(ctx: Context, raw: Any, mode: str) -> tuple[list[str], HookModules | None]:
    """The hook specs as written, and the loaded modules (None: skipped or failed)."""
    specs = [raw] if isinstance(raw, str) else ctx.sequence(("hooks",), raw)
    written = [s for s in specs if isinstance(s, str)]
    if len(written) != len(specs):
        ctx.error(("hooks",), "'hooks' is a module path or dotted name, or a list of them")
    if mode == "skip":
        return written, None
    failed = False
    for index, spec in enumerate(written):
        try:
            load_hooks([resolve_spec(spec, ctx.doc.base_dir)])
        except HookImportError as exc:
            if mode == "raise":
                raise HookImportError(spec, exc.details) from exc.__cause__
            where = ("hooks", index) if isinstance(raw, list) else ("hooks",)
            ctx.error(where, f"hook module {spec!r} failed to import: {failure_summary(exc)}")
            failed = True
    if failed:
        return written, None
    return written, load_hooks([resolve_spec(s, ctx.doc.base_dir) for s in written])


# ---------------------------------------------------------------- users and flows


def _users(ctx: Context, raw: Any, env: CompileEnv) -> tuple[UserType, ...]:
    users = ctx.sequence(("users",), raw)
    if not users:
        ctx.error(("users",), "a scenario needs at least one user type under 'users'")
    return tuple(_user(ctx, index, item, env) for index, item in enumerate(users))


def _user(ctx: Context, index: int, raw: Any, env: CompileEnv) -> UserType:
    path: JsonPath = ("users", index)
    user = ctx.mapping(path, raw)
    count = user.get("count")
    if count is not None:
        count = ctx.integer((*path, "count"), count, 0)
        if "weight" in user:
            ctx.error((*path, "weight"), "'weight' cannot be combined with 'count'", key=True)
    weight = None if count is not None else _weight(ctx, (*path, "weight"), user.get("weight"))
    flows = ctx.sequence((*path, "flows"), user.get("flows"))
    if not flows:
        ctx.error((*path, "flows"), "a user type needs at least one flow under 'flows'")
    return UserType(
        name=str(user.get("name") or f"user{index + 1}"),
        flows=tuple(_flow(ctx, (*path, "flows", i), f, env) for i, f in enumerate(flows)),
        weight=weight,
        count=count,
        wait=user_wait(ctx, user.get("wait"), (*path, "wait")),
        on_start=compile_steps(ctx, user.get("on_start"), (*path, "on_start"), env),
        on_stop=compile_steps(ctx, user.get("on_stop"), (*path, "on_stop"), env),
        source=ctx.source(path),
        tags=_tags(user.get("tags")),
        session_headers=_session(ctx, user.get("session"), (*path, "session")),
    )


def _session(ctx: Context, raw: Any, path: JsonPath) -> tuple[tuple[str, Any], ...]:
    """A user type's `session: {headers}`: templates checked against every name the scenario
    sets anywhere (one set only later, e.g. by on_start's login, is fine: left out until set)."""
    session = ctx.mapping(path, raw)
    return compile_headers(ctx, session.get("headers"), (*path, "headers"))


def _weight(ctx: Context, path: JsonPath, raw: Any) -> float:
    if raw is None:
        return 1.0
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
        ctx.error(path, f"a weight is a number > 0, got {raw!r}")
        return 1.0
    return float(raw)


def _flow(ctx: Context, path: JsonPath, raw: Any, env: CompileEnv) -> Flow:
    flow = ctx.mapping(path, raw)
    steps = compile_steps(ctx, flow.get("steps"), (*path, "steps"), env)
    if not flow.get("steps"):
        ctx.error((*path, "steps"), "a flow needs at least one step under 'steps'")
    return Flow(
        name=str(flow.get("name") or f"flow{path[-1] + 1}"),
        weight=_weight(ctx, (*path, "weight"), flow.get("weight")),
        steps=steps,
        stop_on_failure=bool(flow.get("stop_on_failure", False)),
        source=ctx.source(path),
        tags=_tags(flow.get("tags")),
    )


def _tags(raw: Any) -> tuple[str, ...]:
    """The `tags:` of a flow or user type (the schema checked them: a list of names), deduplicated."""
    return tuple(dict.fromkeys(str(tag) for tag in raw)) if isinstance(raw, list) else ()
