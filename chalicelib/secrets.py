"""Secrets (the JWT secret, the MongoDB URI) from SSM Parameter Store or Secrets Manager.

Read once per warm container by the cached getters in deps.py. A plain value in the
environment wins, which is what local runs use; deployed stages name a parameter instead,
so no secret is ever written into .chalice/config.json.
"""

from __future__ import annotations

from typing import Any

from chalicelib.errors import Unavailable


def read_secret(name: str, region: str | None = None, session: Any = None) -> str:
    """`name` is an SSM parameter name (/im/prod/jwt-secret) or a Secrets Manager ARN."""
    import boto3  # the Lambda runtime ships it; imported here so `import app` stays light
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    session = session or boto3.session.Session(region_name=region)
    # Short timeouts: a cold start that cannot reach SSM (no NAT, no VPC endpoint)
    # should answer 503 quickly, not hang until the Lambda timeout.
    config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2})
    try:
        if name.startswith("arn:aws:secretsmanager:") or name.startswith("arn:aws-cn:"):
            client = session.client("secretsmanager", config=config)
            value = client.get_secret_value(SecretId=name)
            return str(value["SecretString"])
        param = session.client("ssm", config=config).get_parameter(Name=name, WithDecryption=True)
        return str(param["Parameter"]["Value"])
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise Unavailable("configuration secret unavailable") from exc
