"""What a reviewer checks in template.yaml and samconfig.toml, asserted without SAM CLI or AWS.

The template is read with cfn-lint's decoder (it understands !Ref, !Sub, !GetAtt ...), so
intrinsics appear in their JSON form, e.g. ``{"Ref": "AlexaSkillId"}``. cfn-lint itself runs
over the template for the three deploy regions and must report nothing.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint, lint_file
from cfnlint.decode import decode

from models.items import ALEXA_USER_INDEX, TTL_ATTRIBUTE
from models.store import TABLE_DEFINITION
from skill import config, metrics
from skill.amazon.gateway import Outcome
from skill.config import AWS_REGION_TO_ALEXA_REGION

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"
SAMCONFIG_PATH = REPO / "samconfig.toml"
DEPLOY_REGIONS = ["us-east-1", "eu-west-1", "us-west-2"]
ALEXA_DEADLINE_SECONDS = 8
DATA_SERVICES = ("dynamodb", "kms", "secretsmanager")

Template = dict[str, Any]
Statement = dict[str, Any]


@pytest.fixture(scope="module")
def template() -> Template:
    decoded, problems = decode(str(TEMPLATE_PATH))
    assert not problems, [str(p) for p in problems]
    assert decoded is not None
    return decoded


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def props(template: Template, name: str) -> dict[str, Any]:
    return template["Resources"][name].get("Properties", {})


def function_setting(template: Template, function: str, key: str) -> Any:
    """A function property, falling back to Globals the way SAM merges them."""
    own = props(template, function)
    if key in own:
        return own[key]
    return template.get("Globals", {}).get("Function", {})[key]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def get_path(mapping: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        mapping = mapping[part]
    return mapping


def allow_statements(template: Template, role: str | None = None) -> Iterator[Statement]:
    """Allow statements of IAM roles and policies (optionally only those that reach ``role``)."""
    for name, resource in template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        documents: list[dict[str, Any]] = []
        if kind == "AWS::IAM::Role" and role in (None, name):
            documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = [r.get("Ref") for r in properties.get("Roles", [])]
            if role is None or role in attached:
                documents = [properties["PolicyDocument"]]
        for document in documents:
            for statement in as_list(document["Statement"]):
                if statement["Effect"] == "Allow":
                    yield statement


def key_policy_statements(template: Template) -> Iterator[tuple[str, Statement]]:
    for name, key in resources(template, "AWS::KMS::Key").items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            yield name, statement


# --------------------------------------------------------------------------- cfn-lint


def test_cfn_lint_reports_nothing_in_any_deploy_region() -> None:
    matches = lint_file(TEMPLATE_PATH, config=ManualArgs(regions=DEPLOY_REGIONS))
    assert [str(m) for m in matches] == []


def test_cfn_lint_would_catch_a_broken_table() -> None:
    broken = TEMPLATE_PATH.read_text().replace(
        "PointInTimeRecoveryEnabled: true", "PointInTimeRecoveryEnabled: sometimes"
    )
    matches = lint(broken, config=ManualArgs(regions=DEPLOY_REGIONS[:1]))
    assert any(m.rule.id == "E3012" for m in matches)  # "'sometimes' is not of type 'boolean'"


# --------------------------------------------------------------------------- functions

FUNCTIONS = [
    ("SkillFunction", "lambda_handler.handler"),
    ("RetentionFunction", "lambda_handler.retention"),
]


@pytest.mark.parametrize(("function", "handler"), FUNCTIONS)
def test_function_handler(template: Template, function: str, handler: str) -> None:
    assert props(template, function)["Handler"] == handler


@pytest.mark.parametrize(
    ("function", "suffix"), [("SkillFunction", "skill"), ("RetentionFunction", "retention")]
)
def test_function_name_is_predictable_for_the_skill_manifest(
    template: Template, function: str, suffix: str
) -> None:
    assert props(template, function)["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-" + suffix}


@pytest.mark.parametrize(("function", "_handler"), FUNCTIONS)
def test_function_runtime_is_python_312_or_newer_on_the_architecture_parameter(
    template: Template, function: str, _handler: str
) -> None:
    runtime = function_setting(template, function, "Runtime")
    found = re.fullmatch(r"python3\.(\d+)", runtime)
    assert found and int(found.group(1)) >= 12, runtime
    assert function_setting(template, function, "Architectures") == [{"Ref": "LambdaArchitecture"}]


def test_architecture_parameter_defaults_to_arm64_and_matches_the_makefile(template: Template) -> None:
    """template.yaml's LambdaArchitecture and the Makefile's LAMBDA_ARCH name the same two values,
    with the same default, so one word picks both the runtime and the wheels."""
    parameter = template["Parameters"]["LambdaArchitecture"]
    assert parameter["Default"] == "arm64"
    assert parameter["AllowedValues"] == ["arm64", "x86_64"]
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^LAMBDA_ARCH \?= arm64$", makefile, re.M)
    wheel_arches = set(re.findall(r"^LAMBDA_WHEEL_ARCH_(\w+) :=", makefile, re.M))
    assert wheel_arches == set(parameter["AllowedValues"])


@pytest.mark.parametrize(("function", "_handler"), FUNCTIONS)
def test_function_package_is_built_by_the_makefile_from_the_repo_root(
    template: Template, function: str, _handler: str
) -> None:
    assert template["Resources"][function]["Metadata"]["BuildMethod"] == "makefile"
    assert function_setting(template, function, "CodeUri") == "."


@pytest.mark.parametrize(("function", "_handler"), FUNCTIONS)
def test_function_uses_its_own_role_and_no_sam_policies(
    template: Template, function: str, _handler: str
) -> None:
    properties = props(template, function)
    assert properties["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
    assert "Policies" not in properties


def test_skill_function_ends_before_alexa_gives_up(template: Template) -> None:
    assert 3 <= props(template, "SkillFunction")["Timeout"] <= ALEXA_DEADLINE_SECONDS


def test_skill_function_is_invoked_through_a_published_alias(template: Template) -> None:
    properties = props(template, "SkillFunction")
    assert properties["AutoPublishAlias"] == "live"
    assert properties["AutoPublishAliasAllProperties"] is True
    assert template["Outputs"]["SkillFunctionArn"]["Value"] == {"Ref": "SkillFunction.Alias"}


def test_snapstart_is_a_parameter_that_defaults_to_off(template: Template) -> None:
    assert template["Parameters"]["EnableSnapStart"]["Default"] == "false"
    assert props(template, "SkillFunction")["SnapStart"] == {
        "ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}
    }


# Declared empty so that `sam local invoke --env-vars` may set them (docs/deploy.md, section 10);
# a deploy never does. AWS_ENDPOINT_URL is botocore's own setting.
LOCAL_ONLY_VARIABLES = {
    "ZOSI_LOCAL_MODE",
    "ZOSI_LOCAL_HTTP_HOST",
    "AWS_ENDPOINT_URL",
    "ZOSI_LWA_TOKEN_URL",
    *(f"ZOSI_EVENT_GATEWAY_URL_{region}" for region in ("NA", "EU", "FE")),
}


def test_environment_names_are_settings_the_code_reads(template: Template) -> None:
    # Each one a Settings field's variable (or an Event Gateway override); AWS_ENDPOINT_URL is botocore's.
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(variables) - {"AWS_ENDPOINT_URL"} <= set(config.variables())
    required = {
        "ZOSI_ACCLOUD_BASE_URL",
        "ZOSI_TABLE_NAME",
        "ZOSI_KMS_KEY_ID",
        "ZOSI_PSEUDONYM_SECRET_ID",
        "ZOSI_LWA_SECRET_ID",
        "ZOSI_WEBHOOK_SECRET_ID",
        "ZOSI_SKILL_ID",
    }
    assert required <= set(variables)


def test_local_only_variables_are_declared_empty_and_no_deploy_sets_them(
    template: Template, samconfig: dict[str, Any]
) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert {name: variables.get(name) for name in LOCAL_ONLY_VARIABLES} == dict.fromkeys(
        LOCAL_ONLY_VARIABLES, ""
    )
    for function in ("SkillFunction", "RetentionFunction"):
        assert "Environment" not in props(template, function)  # nothing overrides the Globals
    # No parameter can fill them, and neither samconfig nor the deploy guide's commands name them.
    assert not any(name in json.dumps(template["Parameters"]) for name in LOCAL_ONLY_VARIABLES)
    assert not any(name in SAMCONFIG_PATH.read_text() for name in LOCAL_ONLY_VARIABLES)
    deploy_guide = (REPO / "docs" / "deploy.md").read_text()
    deploy_commands = [
        line for line in deploy_guide.splitlines() if re.search(r"\bsam (deploy|sync)\b", line)
    ]
    assert deploy_commands
    assert not any(name in line for line in deploy_commands for name in LOCAL_ONLY_VARIABLES)
    with_empty = {name: "" for name in LOCAL_ONLY_VARIABLES if name != "AWS_ENDPOINT_URL"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in with_empty.items():
            patch.setenv(name, value)
        deployed = config.load()
    assert not deployed.local_mode and not deployed.local_http_host
    assert deployed.lwa_token_url == "https://api.amazon.com/auth/o2/token"
    assert deployed.event_gateway_urls == config.EVENT_GATEWAY_URLS


# ---------------------------------------------------------------- secrets extension
# The AWS accounts that publish the extension's layers (AWS's documentation lists them per region).
SECRETS_EXTENSION_ACCOUNTS = {
    "us-east-1": "177933569100",
    "eu-west-1": "015030872274",
    "us-west-2": "345057560386",
}


def test_secrets_extension_layer_is_published_per_deploy_region_and_architecture(template: Template) -> None:
    layers = template["Mappings"]["SecretsExtensionLayer"]
    assert set(layers) == set(DEPLOY_REGIONS)
    for region, by_arch in layers.items():
        account = SECRETS_EXTENSION_ACCOUNTS[region]
        prefix = f"arn:aws:lambda:{region}:{account}:layer:AWS-Parameters-and-Secrets-Lambda-Extension"
        assert set(by_arch) == {"arm64", "x86"}
        assert re.fullmatch(re.escape(prefix) + r"-Arm64:\d+", by_arch["arm64"])
        assert re.fullmatch(re.escape(prefix) + r":\d+", by_arch["x86"])


def test_secrets_extension_is_on_by_default_with_the_layer_for_the_functions_architecture(
    template: Template,
) -> None:
    parameter = template["Parameters"]["SecretsExtensionLayerArn"]
    assert parameter["Default"] == "published"
    (layer,) = template["Globals"]["Function"]["Layers"]
    condition, chosen, otherwise = layer["Fn::If"]
    assert condition == "HasSecretsExtension" and otherwise == {"Ref": "AWS::NoValue"}
    published, pinned = chosen["Fn::If"][1], chosen["Fn::If"][2]
    assert template["Globals"]["Function"]["Architectures"] == [{"Ref": "LambdaArchitecture"}]
    assert template["Conditions"]["OnArm64"] == {"Fn::Equals": [{"Ref": "LambdaArchitecture"}, "arm64"]}
    in_region = ["SecretsExtensionLayer", {"Ref": "AWS::Region"}]
    arm64, x86 = ({"Fn::FindInMap": [*in_region, key]} for key in ("arm64", "x86"))
    assert published == {"Fn::If": ["OnArm64", arm64, x86]}
    assert pinned == {"Ref": "SecretsExtensionLayerArn"}
    conditions = template["Conditions"]
    assert conditions["HasSecretsExtension"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SecretsExtensionLayerArn"}, "none"]}]
    }


def test_secrets_extension_settings_keep_rotation_within_the_documented_time(template: Template) -> None:
    from skill.secrets import CACHE_SECONDS

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    # The port only when the layer is there: without it the code reads through the API at once.
    port = variables["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]
    assert port == {"Fn::If": ["HasSecretsExtension", "2773", ""]}
    ttl = float(variables["SECRETS_MANAGER_TTL"])
    assert 0 < ttl < CACHE_SECONDS  # the code keeps a value for CACHE_SECONDS - ttl


ENVIRONMENT_WIRING = [
    ("ZOSI_TABLE_NAME", {"Ref": "SkillTable"}),
    ("ZOSI_KMS_KEY_ID", {"Fn::GetAtt": ["TokenKey", "Arn"]}),
    ("ZOSI_PSEUDONYM_SECRET_ID", {"Ref": "PseudonymKeysSecret"}),
    ("ZOSI_LWA_SECRET_ID", {"Ref": "LwaClientSecret"}),
    ("ZOSI_WEBHOOK_SECRET_ID", {"Ref": "WebhookSigningSecret"}),
    ("ZOSI_SKILL_ID", {"Ref": "AlexaSkillId"}),
]


@pytest.mark.parametrize(("variable", "value"), ENVIRONMENT_WIRING)
def test_environment_points_at_this_stacks_resources(template: Template, variable: str, value: Any) -> None:
    assert template["Globals"]["Function"]["Environment"]["Variables"][variable] == value


# --------------------------------------------------------------------------- Alexa permissions


@pytest.mark.parametrize("principal", ["alexa-connectedhome.amazon.com", "alexa-appkit.amazon.com"])
def test_alexa_may_invoke_the_alias_only_for_this_skill(template: Template, principal: str) -> None:
    granted = [
        p["Properties"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == principal
    ]
    assert len(granted) == 1
    assert granted[0]["Action"] == "lambda:InvokeFunction"
    assert granted[0]["EventSourceToken"] == {"Ref": "AlexaSkillId"}
    assert granted[0]["FunctionName"] == {"Ref": "SkillFunction.Alias"}


def test_no_other_lambda_permission_and_no_function_url(template: Template) -> None:
    """Alexa's two permissions are the only ones the template writes (SAM adds the HTTP API's own
    permission for the webhook route at transform time), and no function has a public URL."""
    principals = sorted(
        p["Properties"]["Principal"] for p in resources(template, "AWS::Lambda::Permission").values()
    )
    assert principals == ["alexa-appkit.amazon.com", "alexa-connectedhome.amazon.com"]
    assert resources(template, "AWS::Lambda::Url") == {}
    for name, function in resources(template, "AWS::Serverless::Function").items():
        assert "FunctionUrlConfig" not in function["Properties"], name
    assert "FunctionUrlConfig" not in template.get("Globals", {}).get("Function", {})


# --------------------------------------------------------------------------- table and keys

TABLE_SETTINGS = [
    ("BillingMode", "PAY_PER_REQUEST"),
    ("PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled", True),
    ("PointInTimeRecoverySpecification.RecoveryPeriodInDays", 35),
    ("SSESpecification.SSEEnabled", True),
    ("SSESpecification.SSEType", "KMS"),
    ("SSESpecification.KMSMasterKeyId", {"Fn::GetAtt": ["TableKey", "Arn"]}),
    ("TimeToLiveSpecification.AttributeName", TTL_ATTRIBUTE),
    ("TimeToLiveSpecification.Enabled", True),
    ("DeletionProtectionEnabled", True),
]


@pytest.mark.parametrize(("setting", "expected"), TABLE_SETTINGS)
def test_table_setting(template: Template, setting: str, expected: Any) -> None:
    assert get_path(props(template, "SkillTable"), setting) == expected


@pytest.mark.parametrize(
    "part", ["AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"]
)
def test_table_matches_the_storage_layer_definition(template: Template, part: str) -> None:
    assert props(template, "SkillTable")[part] == TABLE_DEFINITION[part]


def test_alexa_user_index_is_keys_only(template: Template) -> None:
    (index,) = props(template, "SkillTable")["GlobalSecondaryIndexes"]
    assert index["IndexName"] == ALEXA_USER_INDEX
    assert index["KeySchema"] == [{"AttributeName": "alexa_user_key", "KeyType": "HASH"}]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_table_is_deleted_before_the_pseudonym_keys(template: Template) -> None:
    table = template["Resources"]["SkillTable"]
    assert "PseudonymKeysSecret" in as_list(table["DependsOn"])
    assert table["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("key", ["TableKey", "TokenKey"])
def test_kms_key_is_customer_managed_and_rotates(template: Template, key: str) -> None:
    assert template["Resources"][key]["Type"] == "AWS::KMS::Key"
    assert props(template, key)["EnableKeyRotation"] is True
    assert props(template, key)["PendingWindowInDays"] == 30


def test_key_policies_grant_no_wildcard_actions(template: Template) -> None:
    for key, statement in key_policy_statements(template):
        for action in as_list(statement["Action"]):
            assert "*" not in action, (key, statement["Sid"], action)


def test_only_the_function_roles_may_use_the_token_key_and_only_with_a_row_binding(
    template: Template,
) -> None:
    usage = [
        s for k, s in key_policy_statements(template) if k == "TokenKey" and "kms:Decrypt" in s["Action"]
    ]
    assert len(usage) == 1
    (statement,) = usage
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [
        {"Fn::GetAtt": ["SkillFunctionRole", "Arn"]},
        {"Fn::GetAtt": ["RetentionFunctionRole", "Arn"]},
    ]
    assert_requires_row_binding(statement)


def test_table_key_is_usable_only_through_dynamodb(template: Template) -> None:
    usage = [
        s for k, s in key_policy_statements(template) if k == "TableKey" and "kms:Decrypt" in s["Action"]
    ]
    assert len(usage) == 1
    via = usage[0]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == {"Fn::Sub": "dynamodb.${AWS::Region}.${AWS::URLSuffix}"}


def assert_requires_row_binding(statement: Statement) -> None:
    binding = ["zosi:pk", "zosi:kind", "zosi:sk"]
    condition = statement["Condition"]
    assert condition["Null"] == {f"kms:EncryptionContext:{k}": "false" for k in binding}
    assert condition["ForAllValues:StringEquals"] == {"kms:EncryptionContextKeys": binding}


# --------------------------------------------------------------------------- IAM least privilege


def test_no_iam_statement_allows_every_action_of_a_service(template: Template) -> None:
    for statement in allow_statements(template):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), statement.get("Sid")
            if action.split(":")[0] in DATA_SERVICES:
                assert "*" not in action, (statement.get("Sid"), action)
        assert "NotAction" not in statement and "NotResource" not in statement


def test_no_data_statement_applies_to_every_resource(template: Template) -> None:
    for statement in allow_statements(template):
        services = {a.split(":")[0] for a in as_list(statement["Action"])}
        if services & {*DATA_SERVICES, "logs"}:
            assert "*" not in as_list(statement["Resource"]), statement.get("Sid")


@pytest.mark.parametrize("role", ["SkillFunctionRole", "RetentionFunctionRole"])
def test_roles_have_no_managed_policies(template: Template, role: str) -> None:
    # AWSLambdaBasicExecutionRole would allow logs:CreateLogGroup and writing to any log group.
    assert "ManagedPolicyArns" not in props(template, role)


OWN_RESOURCES = {
    "dynamodb": [
        {"Fn::GetAtt": ["SkillTable", "Arn"]},
        {"Fn::Sub": "${SkillTable.Arn}/index/by_alexa_user"},
    ],
    "kms": [{"Fn::GetAtt": ["TableKey", "Arn"]}, {"Fn::GetAtt": ["TokenKey", "Arn"]}],
    "secretsmanager": [
        {"Ref": "PseudonymKeysSecret"},
        {"Ref": "LwaClientSecret"},
        {"Ref": "WebhookSigningSecret"},
    ],
}
OWN_LOG_GROUP = {"SkillFunctionRole": "SkillLogGroup", "RetentionFunctionRole": "RetentionLogGroup"}


@pytest.mark.parametrize("role", ["SkillFunctionRole", "RetentionFunctionRole"])
def test_role_reaches_only_its_stacks_table_keys_secrets_and_log_group(template: Template, role: str) -> None:
    statements = list(allow_statements(template, role))
    assert statements
    for statement in statements:
        (service,) = {a.split(":")[0] for a in as_list(statement["Action"])}
        for resource in as_list(statement["Resource"]):
            if service == "logs":
                assert resource == {"Fn::GetAtt": [OWN_LOG_GROUP[role], "Arn"]}
            else:
                assert resource in OWN_RESOURCES[service], (statement.get("Sid"), resource)


@pytest.mark.parametrize("role", ["SkillFunctionRole", "RetentionFunctionRole"])
def test_token_key_use_is_generate_and_decrypt_with_a_row_binding(template: Template, role: str) -> None:
    token_key = {"Fn::GetAtt": ["TokenKey", "Arn"]}
    usage = [s for s in allow_statements(template, role) if token_key in as_list(s["Resource"])]
    assert len(usage) == 1
    assert sorted(as_list(usage[0]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert_requires_row_binding(usage[0])


@pytest.mark.parametrize("role", ["SkillFunctionRole", "RetentionFunctionRole"])
def test_table_key_use_is_only_through_dynamodb(template: Template, role: str) -> None:
    table_key = {"Fn::GetAtt": ["TableKey", "Arn"]}
    for statement in allow_statements(template, role):
        if table_key in as_list(statement["Resource"]):
            assert "kms:ViaService" in statement["Condition"]["StringEquals"]


def test_skill_function_cannot_scan_the_table(template: Template) -> None:
    actions = {a for s in allow_statements(template, "SkillFunctionRole") for a in as_list(s["Action"])}
    assert "dynamodb:Scan" not in actions


# --------------------------------------------------------------------------- secrets


def test_no_secret_value_is_written_in_the_template(template: Template) -> None:
    for name, secret in resources(template, "AWS::SecretsManager::Secret").items():
        assert "SecretString" not in secret["Properties"], name


@pytest.mark.parametrize("secret", ["PseudonymKeysSecret", "LwaClientSecret"])
def test_secret_is_created_empty_and_set_by_the_operator(template: Template, secret: str) -> None:
    assert "GenerateSecretString" not in props(template, secret)


def test_pseudonym_keys_survive_a_replacement(template: Template) -> None:
    assert template["Resources"]["PseudonymKeysSecret"]["UpdateReplacePolicy"] == "Retain"


def test_webhook_signing_secret_is_generated_under_the_expected_key(template: Template) -> None:
    generated = props(template, "WebhookSigningSecret")["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "signing_secret"
    assert generated["PasswordLength"] >= 32


# --------------------------------------------------------------------------- webhook and schedule


def test_webhook_route_is_post_webhooks_accloud_on_the_skill_function(template: Template) -> None:
    routes = [
        e["Properties"] for e in props(template, "SkillFunction")["Events"].values() if e["Type"] == "HttpApi"
    ]
    assert routes == [
        {
            "ApiId": {"Ref": "WebhookApi"},
            "Method": "POST",
            "Path": "/webhooks/accloud",
            "PayloadFormatVersion": "2.0",
        }
    ]


def test_webhook_api_is_throttled(template: Template) -> None:
    settings = props(template, "WebhookApi")["DefaultRouteSettings"]
    for limit, parameter in [
        ("ThrottlingBurstLimit", "WebhookThrottleBurst"),
        ("ThrottlingRateLimit", "WebhookThrottleRate"),
    ]:
        assert settings[limit] == {"Ref": parameter}
        assert 0 < template["Parameters"][parameter]["Default"] <= 100


def test_webhook_access_log_holds_no_client_identity(template: Template) -> None:
    log_format = props(template, "WebhookApi")["AccessLogSettings"]["Format"]
    assert "$context.requestId" in log_format
    for identifying in ("sourceIp", "userAgent", "identity", "path"):
        assert identifying not in log_format


def test_retention_job_runs_daily(template: Template) -> None:
    (event,) = props(template, "RetentionFunction")["Events"].values()
    assert event["Type"] == "Schedule"
    assert re.fullmatch(r"cron\(\d+ \d+ \* \* \? \*\)|rate\(1 day\)", event["Properties"]["Schedule"])


# --------------------------------------------------------------------------- logs and alarms


def test_every_log_group_keeps_30_days(template: Template) -> None:
    groups = resources(template, "AWS::Logs::LogGroup")
    assert set(groups) == {"SkillLogGroup", "RetentionLogGroup", "WebhookAccessLogGroup"}
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == 30, name


@pytest.mark.parametrize(
    ("function", "group"), [("SkillFunction", "SkillLogGroup"), ("RetentionFunction", "RetentionLogGroup")]
)
def test_function_logs_to_its_own_group(template: Template, function: str, group: str) -> None:
    assert props(template, function)["LoggingConfig"]["LogGroup"] == {"Ref": group}


NOTIFY_TOPIC = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
LAMBDA_ALARMS = [
    ("Errors", "SkillFunction"),
    ("Throttles", "SkillFunction"),
    ("Errors", "RetentionFunction"),
]


def alarms(template: Template) -> list[dict[str, Any]]:
    return [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]


@pytest.mark.parametrize(("metric", "function"), LAMBDA_ALARMS)
def test_lambda_alarm_exists_and_notifies_the_optional_topic(
    template: Template, metric: str, function: str
) -> None:
    found = [
        a
        for a in alarms(template)
        if (a.get("Namespace"), a.get("MetricName")) == ("AWS/Lambda", metric)
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]
    assert len(found) == 1
    assert found[0]["AlarmActions"] == NOTIFY_TOPIC
    assert found[0]["TreatMissingData"] == "notBreaching"


def test_event_gateway_failure_alarm_sums_the_metric_the_code_emits(template: Template) -> None:
    found = [
        a
        for a in alarms(template)
        if any(metrics.EVENT_GATEWAY_FAILURES in q.get("Expression", "") for q in a.get("Metrics", []))
    ]
    assert len(found) == 1
    (query,) = found[0]["Metrics"]
    expression = " ".join(query["Expression"].split())
    select = 'SELECT SUM({metric}) FROM SCHEMA("{namespace}", outcome)'
    assert expression.startswith(
        select.format(metric=metrics.EVENT_GATEWAY_FAILURES, namespace=metrics.NAMESPACE)
    )
    # Users disabling the skill or withdrawing the permission are not operational failures.
    for expected in (Outcome.SKILL_DISABLED, Outcome.PERMISSION_REVOKED):
        assert f"outcome != '{expected.value}'" in expression
    for failure in (
        Outcome.REJECTED,
        Outcome.UNAUTHORIZED,
        Outcome.RETRIES_EXHAUSTED,
        Outcome.TOKEN_UNAVAILABLE,
    ):
        assert failure.value not in expression
    assert found[0]["AlarmActions"] == NOTIFY_TOPIC
    assert found[0]["TreatMissingData"] == "notBreaching"


# --------------------------------------------------------------------------- outputs and parameters


@pytest.mark.parametrize("output", ["SkillFunctionArn", "WebhookUrl", "TableName"])
def test_output_exists(template: Template, output: str) -> None:
    assert "Value" in template["Outputs"][output]


def test_webhook_url_output_names_the_route(template: Template) -> None:
    assert template["Outputs"]["WebhookUrl"]["Value"]["Fn::Sub"].endswith("/webhooks/accloud")


EXTENSION_LAYER = "arn:aws:lambda:eu-west-1:015030872274:layer:AWS-Parameters-and-Secrets-Lambda-Extension"
PARAMETER_VALUES = [
    ("AlexaSkillId", "amzn1.ask.skill.0a1b2c3d-4e5f-6789-abcd-ef0123456789", True),
    ("AlexaSkillId", "REPLACE_ME_amzn1.ask.skill.id", False),
    ("AlexaSkillId", "amzn1.ask.skill.", False),
    ("AccloudBaseUrl", "https://api.accloud.example", True),
    ("AccloudBaseUrl", "https://api.accloud.example:8443/v2", True),
    ("AccloudBaseUrl", "http://api.accloud.example", False),
    ("AccloudBaseUrl", "https://api.accloud.example/", False),
    ("AccloudBaseUrl", "REPLACE_ME_https_url", False),
    ("AlarmTopicArn", "", True),
    ("AlarmTopicArn", "arn:aws:sns:eu-west-1:123456789012:zosi-alarms", True),
    ("AlarmTopicArn", "arn:aws:sqs:eu-west-1:123456789012:zosi-alarms", False),
    ("SecretsExtensionLayerArn", "published", True),
    ("SecretsExtensionLayerArn", "none", True),
    ("SecretsExtensionLayerArn", f"{EXTENSION_LAYER}-Arm64:12", True),
    ("SecretsExtensionLayerArn", f"{EXTENSION_LAYER}-Arm64", False),
    ("SecretsExtensionLayerArn", "", False),
    ("SecretsExtensionLayerArn", "latest", False),
]


@pytest.mark.parametrize(("parameter", "value", "accepted"), PARAMETER_VALUES)
def test_parameter_pattern(template: Template, parameter: str, value: str, accepted: bool) -> None:
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted


# --------------------------------------------------------------------------- regions and samconfig


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    with SAMCONFIG_PATH.open("rb") as handle:
        return tomllib.load(handle)


SAM_ENVIRONMENTS = [("na", "us-east-1", "NA"), ("eu", "eu-west-1", "EU"), ("fe", "us-west-2", "FE")]


@pytest.mark.parametrize(("environment", "region", "alexa_region"), SAM_ENVIRONMENTS)
def test_samconfig_environment_deploys_its_alexa_region(
    template: Template, samconfig: dict[str, Any], environment: str, region: str, alexa_region: str
) -> None:
    settings = samconfig[environment]["global"]["parameters"]
    deploy = samconfig[environment]["deploy"]["parameters"]
    assert settings["region"] == region
    assert settings["stack_name"] == f"zosi-smart-{environment}"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert "AlexaSkillId=" in deploy["parameter_overrides"]
    # Each stack names its secrets extension layer: the one published for its region by default.
    assert 'SecretsExtensionLayerArn="published"' in deploy["parameter_overrides"]
    assert region in template["Mappings"]["SecretsExtensionLayer"]
    assert template["Mappings"]["AlexaRegion"][region]["Name"] == alexa_region
    assert AWS_REGION_TO_ALEXA_REGION[region] == alexa_region


MANIFEST_PATH = REPO / "interaction_model" / "skill-package" / "skill.json"
MANIFEST_SECTIONS = ["apis.smartHome", "apis.custom", "events"]


@pytest.mark.parametrize("section", MANIFEST_SECTIONS)
@pytest.mark.parametrize(("environment", "region", "alexa_region"), SAM_ENVIRONMENTS)
def test_the_manifest_invokes_each_region_s_stack_on_its_alias(
    template: Template,
    samconfig: dict[str, Any],
    section: str,
    environment: str,
    region: str,
    alexa_region: str,
) -> None:
    """Alexa may invoke only what the Lambda permissions grant: the skill function's published
    alias, in the stack that samconfig deploys for that Alexa region. An unqualified ARN, or one
    stack's function named for another region, is refused by Alexa (or by the console)."""
    import json

    block = json.loads(MANIFEST_PATH.read_text())["manifest"]
    for key in section.split("."):
        block = block[key]
    uri = (
        block["endpoint"]["uri"]
        if alexa_region == "NA"
        else block["regions"][alexa_region]["endpoint"]["uri"]
    )
    function = props(template, "SkillFunction")
    assert function["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-skill"}
    for permission in ("AlexaSmartHomeInvoke", "AlexaCustomSkillInvoke"):
        assert props(template, permission)["FunctionName"] == {"Ref": "SkillFunction.Alias"}
    stack = samconfig[environment]["global"]["parameters"]["stack_name"]
    expected = re.compile(
        rf"arn:aws:lambda:{region}:\d{{12}}:function:{re.escape(stack)}-skill:{function['AutoPublishAlias']}"
    )
    assert expected.fullmatch(uri), f"{section} {alexa_region}: {uri}"


def test_template_accepts_exactly_the_regions_the_code_maps(template: Template) -> None:
    (assertion,) = template["Rules"]["OnlyAlexaRegions"]["Assertions"]
    allowed, _region = assertion["Assert"]["Fn::Contains"]
    assert sorted(allowed) == sorted(AWS_REGION_TO_ALEXA_REGION) == sorted(DEPLOY_REGIONS)


def test_samconfig_builds_in_source(samconfig: dict[str, Any]) -> None:
    # Without it sam build copies the whole repository (both venvs included) before running make.
    assert samconfig["default"]["build"]["parameters"]["build_in_source"] is True
