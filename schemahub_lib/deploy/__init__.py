"""Deploy SchemaHub to AWS Glue from a declarative description (glue_deploy/deployment.yaml).

    deployment = load_deployment("glue_deploy/deployment.yaml")
    result = run_deploy(settings, deployment, dry_run=True)
    print(result.plan.render())

Layers: `config` (the validated description) -> `packaging` (wheel + scripts) and `resources`
(Glue API requests and the dashboard body, pure) -> `diff` (read-only comparison with AWS,
giving a `plan`) -> `apply` (the only writes); `deployer.run_deploy` strings them together.
`policy` renders the IAM documents and `cost` the monthly Glue estimate.
"""

from schemahub_lib.deploy.config import Deployment, JobSpec, load_deployment, parse_deployment
from schemahub_lib.deploy.deployer import DeployResult, run_deploy
from schemahub_lib.deploy.plan import Change, Plan

__all__ = [
    "Change",
    "DeployResult",
    "Deployment",
    "JobSpec",
    "Plan",
    "load_deployment",
    "parse_deployment",
    "run_deploy",
]
