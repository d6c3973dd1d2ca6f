"""`schemahub deploy`: create or update the AWS Glue deployment described in a YAML file.

    schemahub deploy                                   # glue_deploy/deployment.yaml
    schemahub deploy --dry-run                         # print the plan, write nothing
    schemahub deploy --deployment my.yaml              # another description (alias: --config)
    schemahub deploy --teardown [--delete-data]        # remove what deploy created
    schemahub deploy --print-policy                    # IAM documents for the job role and deployer
    schemahub deploy --estimate [--streams 50]         # the monthly bill, all in (no AWS access)

Idempotent: a second run with the same description and sources changes nothing. Endpoint
overrides (SCHEMAHUB_GLUE_ENDPOINT, SCHEMAHUB_S3_ENDPOINT, SCHEMAHUB_CLOUDWATCH_ENDPOINT,
SCHEMAHUB_S3_PATH_STYLE) are honoured, so the same command runs against a local emulator.
Credentials come from boto3's usual chain.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from schemahub_lib.errors import ConfigError
from schemahub_lib.settings import Settings

if TYPE_CHECKING:  # `schemahub --help` must not load boto3 and the deploy modules
    from schemahub_lib.deploy.config import Deployment
    from schemahub_lib.deploy.cost import Assumptions


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "deploy",
        help="deploy to AWS Glue from glue_deploy/deployment.yaml (idempotent)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # dest differs from the top-level --config (the settings file), which this must not replace.
    parser.add_argument(
        "--deployment",
        "--config",
        dest="deployment",
        metavar="PATH",
        help="deployment description (default: glue_deploy/deployment.yaml)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and write nothing")
    parser.add_argument(
        "--teardown",
        action="store_true",
        help="remove the jobs, triggers, workflows, artifacts, dashboard and alarms",
    )
    parser.add_argument(
        "--delete-data",
        action="store_true",
        help="with --teardown: also drop the tables and delete the warehouse under the prefix",
    )
    parser.add_argument("--print-policy", action="store_true", help="print the IAM policy documents and exit")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="print the monthly cost (Glue, S3, Athena, CloudWatch) with every assumption; no AWS access",
    )
    parser.add_argument(
        "--streams",
        type=int,
        metavar="N",
        help="with --estimate: streams (exchange, symbol) to price (default: the seed's, on the jobs' "
        "exchanges)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.deploy.config import load_deployment
    from schemahub_lib.deploy.cost import monthly_glue_cost, render_cost, render_estimate
    from schemahub_lib.deploy.deployer import run_deploy
    from schemahub_lib.deploy.policy import deployer_policy, job_role_policy, trust_policy

    if args.delete_data and not args.teardown:
        raise ConfigError("--delete-data only goes with --teardown")
    if args.streams is not None and (not args.estimate or args.streams < 1):
        raise ConfigError(f"--streams goes with --estimate and must be >= 1, got {args.streams}")
    deployment = load_deployment(args.deployment)
    if args.estimate:
        print(render_estimate(deployment, assumptions(deployment, settings, args.streams)))
        return 0
    if args.print_policy:
        documents = {
            "job_role_policy": job_role_policy(deployment),
            "job_role_trust_policy": trust_policy(deployment),
            "deployer_policy": deployer_policy(deployment),
        }
        print(json.dumps(documents, indent=2))
        return 0
    result = run_deploy(
        settings,
        deployment,
        dry_run=args.dry_run,
        teardown=args.teardown,
        delete_data=args.delete_data,
    )
    if args.json:
        print(result.plan.as_json())
        return 0
    print(result.plan.render())
    if not args.teardown:
        print(render_cost(monthly_glue_cost(deployment)))
    if args.dry_run:
        print("Dry run: nothing was written.")
    elif result.applied:
        print(f"Applied {len(result.applied)} changes.")
    else:
        print("Nothing to change.")
    return 0


def assumptions(deployment: Deployment, settings: Settings, streams: int | None) -> Assumptions:
    """Streams and exchanges to price: `streams` over the jobs' exchanges, or by default the
    seed's products on those exchanges (`settings.seed_path`)."""
    from schemahub_lib.deploy.cost import Assumptions
    from schemahub_lib.seed import load_seed

    seed = load_seed(settings.seed_path)
    exchanges = deployment.exchanges  # every pipeline or ingest job names its --exchanges
    if streams is None:
        streams = sum(len(seed.get(e, ())) for e in exchanges)
    return Assumptions(streams=streams, exchanges=len(exchanges))
