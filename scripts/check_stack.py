"""Checks deploy/cloudformation/imaged.yaml: cfn-lint, then (given a moto
endpoint) a real create_stack into moto and a look at what it made.

Run through scripts/check-stack, which supplies cfn-lint and the Python that
has boto3. Progress and problems go to stderr; on success with an endpoint,
stdout is one JSON object: the stack's Outputs plus "StackName".

Exit status: 0 all good; 1 cfn-lint found a problem, the stack failed or a
check failed; 2 bad usage.

moto (5.2.5) differs from CloudFormation in ways this script works around;
each is said where it is handled:
  - it resolves the Default of an AWS::SSM::Parameter::Value parameter even
    when a value is given, knows no /aws/service/debian/... parameter, and
    refuses to create one under /aws/: the AmiId default is swapped, in this
    script's copy of the template only, for a parameter the script creates;
  - it does not implement AWS::SecretsManager::Secret (nor dynamic
    references): the database secret is made here and passed as
    ExistingDatabaseSecretArn, so the new database takes its password.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TEMPLATE = os.path.join(ROOT, "deploy", "cloudformation", "imaged.yaml")
DEBIAN_AMI_PARAMETER = "/aws/service/debian/release/12/latest/amd64"
MOTO_AMI_PARAMETER = "/imaged/check-stack/ami"
REQUIRED_OUTPUTS = (
    "ApiUrl",
    "BucketName",
    "QueueUrl",
    "DeadLetterQueueUrl",
    "TopicArn",
    "DatabaseSecretArn",
    "DatabaseHost",
)


def log(message):
    print(f"check-stack: {message}", file=sys.stderr, flush=True)


class CheckFailed(Exception):
    pass


def lint(cfn_lint, template):
    """Runs cfn-lint (warnings count as failures); says what it found."""
    version = subprocess.run([cfn_lint, "--version"], capture_output=True, text=True)
    result = subprocess.run([cfn_lint, "--", template], capture_output=True, text=True)
    found = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        print(found, file=sys.stderr)
        raise CheckFailed(f"{version.stdout.strip()} finds problems in {template} (exit {result.returncode})")
    log(f"{version.stdout.strip()}: {template} is clean")


def template_resources(text):
    """Logical id -> type, from the template (short-form tags ignored)."""
    try:
        import yaml
    except ImportError:
        return {}

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return {k: v.get("Type") for k, v in (yaml.load(text, Loader=Loader).get("Resources") or {}).items()}


def endpoint_is_local(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def deploy(endpoint, template, text):
    try:
        import boto3
    except ImportError:
        raise CheckFailed("boto3 is missing: run with the moto venv's python (scripts/check-stack does)")

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(key, value)
    session = boto3.session.Session(region_name=region)

    def client(service):
        return session.client(service, endpoint_url=endpoint)

    ec2, ssm, cfn = client("ec2"), client("ssm"), client("cloudformation")
    s3, sqs, sns, sm = client("s3"), client("sqs"), client("sns"), client("secretsmanager")
    name = f"imaged-check-{uuid.uuid4().hex[:8]}"

    # The network the parameters need: a VPC and two subnets in two zones.
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones, start=1)
    ]
    log(f"{name}: VPC {vpc}, subnets {', '.join(subnets)}")

    # moto workaround 1 (see the docstring): an AMI parameter moto can read.
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    ssm.put_parameter(Name=MOTO_AMI_PARAMETER, Value=ami, Type="String", Overwrite=True)
    if DEBIAN_AMI_PARAMETER in text:
        text = text.replace(DEBIAN_AMI_PARAMETER, MOTO_AMI_PARAMETER)
    else:
        log(f"note: {DEBIAN_AMI_PARAMETER} not in {template}; its AmiId default is left as it is")

    # moto workaround 2: the database secret, as CloudFormation would make it.
    secret_arn = sm.create_secret(
        Name=f"{name}-database",
        SecretString=json.dumps({"username": "admin", "password": secrets.token_urlsafe(24)}),
    )["ARN"]

    parameters = {
        "VpcId": vpc,
        "SubnetIds": ",".join(subnets),
        "PackageUrl": "https://packages.invalid/imaged_0.1.0-1_amd64.deb",
        "AmiId": MOTO_AMI_PARAMETER,
        "ExistingDatabaseSecretArn": secret_arn,
    }
    log(f"{name}: create_stack with new bucket, queues, topic, database and instances")
    try:
        cfn.create_stack(
            StackName=name,
            TemplateBody=text,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
    except Exception as err:  # moto answers a template it cannot take with an error here
        raise CheckFailed(f"create_stack refused {template}: {err}")

    deadline = time.monotonic() + 300
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise CheckFailed(f"{name} still {status} after 300 s")
        time.sleep(1)
    if status != "CREATE_COMPLETE":
        for event in cfn.describe_stack_events(StackName=name)["StackEvents"]:
            if event.get("ResourceStatusReason"):
                log(f"  {event['LogicalResourceId']}: {event['ResourceStatus']}: {event['ResourceStatusReason']}")
        raise CheckFailed(f"{name}: {status} {stack.get('StackStatusReason') or ''}".rstrip())
    log(f"{name}: CREATE_COMPLETE")

    made = {r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    skipped = sorted(f"{k} ({t})" for k, t in template_resources(text).items() if k not in made)
    if skipped:
        log(f"not made by moto (a type it lacks, or a false condition): {', '.join(skipped)}")

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise CheckFailed(f"{name}: outputs {', '.join(missing)} missing (have {sorted(outputs)})")

    check(outputs, s3, sqs, sns, sm)
    outputs["StackName"] = name
    return outputs


def check(outputs, s3, sqs, sns, sm):
    """The bucket, queue (with its redrive to the dead-letter queue), topic and
    secret exist under the names and ids the outputs give."""
    if not outputs["ApiUrl"].startswith("http://"):
        raise CheckFailed(f"ApiUrl {outputs['ApiUrl']} is not http://...")

    s3.head_bucket(Bucket=outputs["BucketName"])
    log(f"bucket {outputs['BucketName']}: found")

    dlq_arn = sqs.get_queue_attributes(QueueUrl=outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["All"])["Attributes"]
    if "RedrivePolicy" not in attributes:
        raise CheckFailed(f"queue {outputs['QueueUrl']} has no RedrivePolicy")
    redrive = json.loads(attributes["RedrivePolicy"])
    if redrive.get("deadLetterTargetArn") != dlq_arn or int(redrive.get("maxReceiveCount", 0)) != 5:
        raise CheckFailed(f"queue's RedrivePolicy {redrive} is not to {dlq_arn} after 5 receives")
    if attributes.get("VisibilityTimeout") != "120":
        raise CheckFailed(f"queue's VisibilityTimeout is {attributes.get('VisibilityTimeout')}, not 120")
    log(f"queue {outputs['QueueUrl']}: found, redrive to {dlq_arn} after 5 receives")

    sns.get_topic_attributes(TopicArn=outputs["TopicArn"])
    log(f"topic {outputs['TopicArn']}: found")

    secret = json.loads(sm.get_secret_value(SecretId=outputs["DatabaseSecretArn"])["SecretString"])
    if not secret.get("password"):
        raise CheckFailed(f"secret {outputs['DatabaseSecretArn']} has no \"password\" key")
    log(f"secret {outputs['DatabaseSecretArn']}: found, with a password")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default=DEFAULT_TEMPLATE, help="template to check (default: %(default)s)")
    parser.add_argument("--cfn-lint", default="cfn-lint", help="the cfn-lint program")
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL", ""),
        help="moto endpoint to deploy into (default: $AWS_ENDPOINT_URL; none: lint only)",
    )
    parser.add_argument("--lint-only", action="store_true", help="skip the deployment")
    args = parser.parse_args()

    try:
        with open(args.template, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        log(f"cannot read the template: {err}")
        return 2
    try:
        lint(args.cfn_lint, args.template)
        if args.lint_only or not args.endpoint:
            if not args.lint_only:
                log("AWS_ENDPOINT_URL is not set: not deployed")
            return 0
        if not endpoint_is_local(args.endpoint):
            log(f"{args.endpoint} is not a loopback address: this deploys into moto only")
            return 2
        outputs = deploy(args.endpoint, args.template, text)
    except CheckFailed as err:
        log(f"FAILED: {err}")
        return 1
    except Exception as err:  # an AWS call failed: a resource is not there
        log(f"FAILED: {type(err).__name__}: {err}")
        return 1
    json.dump(outputs, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
