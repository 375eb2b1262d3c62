"""``actionkit check contentstack``: is every key the instance (and a sync) can send defined?

Exit codes: 0 every checked key is defined (or was created); 1 some are missing, or the
instance, the sync or the Management API refused (the problems on standard error); 2 the
command line is wrong or the token is not set.
"""

from __future__ import annotations

import os
import sys

import click

from framework.checks.contentstack import (
    MANAGEMENT_REGIONS,
    CheckResult,
    ManagementClient,
    TokenType,
    check_project,
    management_url,
)
from framework.checks.keys import ProducedKeys, instance_keys, sync_keys
from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail
from framework.cli._output import console, json_option
from framework.cli._search import destinations_option
from framework.definitions.instance import Instance, load_instance
from framework.errors import ActionkitError, DefinitionError
from framework.sync.config import load_sync_config

DEFAULT_TOKEN_ENV = "PERSONALIZE_MANAGEMENT_TOKEN"
"""The environment variable the Management API token is read from by default."""


@click.group("check")
def check_group() -> None:
    """Check a destination's account against what an instance can send to it.

    \b
    Example:
      PERSONALIZE_MANAGEMENT_TOKEN=... actionkit check contentstack \\
        --instance examples/contentstack.yaml --sync examples/sync/users.sync.yaml
    """


def _load(
    instance_path: str, sync_path: str | None, as_json: bool
) -> tuple[Instance, ProducedKeys]:
    """The instance, and the keys it and the sync (when given) can send."""
    try:
        instance = load_instance(instance_path)
    except DefinitionError as exc:
        fail(exc, source=instance_path, as_json=as_json)
    keys = instance_keys(instance)
    if sync_path is not None:
        try:
            config = load_sync_config(sync_path)
        except DefinitionError as exc:
            fail(exc, source=sync_path, as_json=as_json)
        extra = config.extra_mapping.source if config.extra_mapping is not None else None
        sync_keys(config.name, [f.name for f in config.fields], extra, keys)
    return instance, keys


@check_group.command("contentstack")
@click.option(
    "--instance",
    "instance_path",
    required=True,
    metavar="PATH",
    help="The Contentstack Personalize instance (YAML or JSON).",
)
@click.option(
    "--sync",
    "sync_path",
    metavar="SYNC.yaml",
    help="Also check the attributes this sync sets.",
)
@click.option(
    "--management-url",
    "url_option",
    metavar="URL|REGION",
    help="The Management API: a URL or a region ("
    + ", ".join(MANAGEMENT_REGIONS)
    + ") [default: the region of the instance's Edge API URL].",
)
@click.option(
    "--token-env",
    default=DEFAULT_TOKEN_ENV,
    show_default=True,
    metavar="VAR",
    help="The environment variable holding the Management API token (kept secret).",
)
@click.option(
    "--token-type",
    type=click.Choice(["authtoken", "oauth"]),
    default="authtoken",
    show_default=True,
    help="authtoken: a user authtoken; oauth: an OAuth token, sent as a bearer.",
)
@click.option(
    "--create-missing",
    is_flag=True,
    help="Create each missing attribute (events are only reported).",
)
@json_option
@destinations_option
def check_contentstack_command(
    instance_path: str,
    sync_path: str | None,
    url_option: str | None,
    token_env: str,
    token_type: TokenType,
    create_missing: bool,
    as_json: bool,
) -> None:
    """List the Personalize project's events and attributes, and report every event key and
    attribute key the instance's mappings (and the sync) can send that the project does not
    define: the Edge API refuses them.

    \b
    Example:
      PERSONALIZE_MANAGEMENT_TOKEN=... actionkit check contentstack \\
          --instance examples/contentstack.yaml --sync examples/sync/users.sync.yaml
    """
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise click.UsageError(
            f"Set the Management API token (an authtoken or an OAuth token) in the "
            f"environment variable {token_env}, or name another with --token-env."
        )
    instance, produced = _load(instance_path, sync_path, as_json)
    project = str(instance.settings.get("personalizeProjectId", ""))
    edge = instance.settings.get("personalizeEdgeApiBaseUrl")
    try:
        base_url = management_url(url_option, edge if isinstance(edge, str) else None)
    except DefinitionError as exc:
        raise click.BadParameter(exc.message, param_hint="--management-url") from exc
    try:
        with ManagementClient(base_url, project, token, token_type=token_type) as client:
            result = check_project(
                client,
                produced,
                project=project,
                create_missing=create_missing,
            )
    except ActionkitError as exc:
        fail(exc, source=base_url, as_json=as_json)
    if as_json:
        emit_json(result.to_dict())
    else:
        _report(result)
    if not result.ok:
        sys.exit(EXIT_INVALID_INPUT)


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _report(result: CheckResult) -> None:
    out = console()
    out.print(
        f"Project {result.project}: {_count(result.defined_events, 'event')} and "
        f"{_count(result.defined_attributes, 'attribute')} defined; checked "
        f"{_count(result.checked_events, 'event key')} and "
        f"{_count(result.checked_attributes, 'attribute key')}."
    )
    for kind, missing in (
        ("event", result.missing_events),
        ("attribute", result.missing_attributes),
    ):
        for key, origins in missing.items():
            out.print(f"  missing {kind} {key!r} (sent by {', '.join(origins)})")
    for key in result.created_attributes:
        out.print(f"  created attribute {key!r}")
    for source in result.open:
        out.print(f"  not checked: {source.kind} keys of {source.origin}. {source.reason}")
    if result.ok:
        out.print("Every checked key is defined.")
    else:
        count = len(result.missing_events) + len(result.missing_attributes)
        out.print(
            f"{count} {'key is' if count == 1 else 'keys are'} not defined in the project; "
            "the Edge API refuses requests that carry them."
        )
