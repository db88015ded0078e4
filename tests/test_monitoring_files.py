"""The Grafana dashboard and the Prometheus alert rules use only metrics the hub exports.

The exported metrics come from prometheus_client's default registry after importing every hub
module that defines metrics, so a renamed or removed metric fails here, not on a silent panel.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from tests.conftest import REPO_ROOT

DASHBOARD = REPO_ROOT / "monitoring" / "grafana" / "cites-hub.json"
ALERTS = REPO_ROOT / "monitoring" / "prometheus" / "alerts.yml"
METRIC_PACKAGES = ("hub", "monitoring", "signing", "adapters")

# Metrics the dashboard and the rules use that the hub does not export yet: name -> (type, labels).
# test_pending_metrics_are_exported fails once the hub exports one, and the entry should then go.
PENDING = {
}
# Series that Prometheus adds to every scrape target, not exported by the hub.
SCRAPE_SERIES = {"up": ("gauge", ())}
TARGET_LABELS = {"job", "instance"}

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                "topk", "quantile", "limitk", "limit_ratio"}
GROUPINGS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
COUNTER_FUNCTIONS = {"rate", "irate", "increase", "resets"}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset"}
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^([0-9]+(ms|[smhdwy]))+$")

TOKEN = re.compile(r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<matchers>\{(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[^}"'])*\})
  | (?P<range>\[[^\]]*\])
  | (?P<variable>\$\{?\w+\}?)
  | (?P<number>[0-9][0-9a-zA-Z.]*)
  | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE)
MATCHER_LABEL = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)""")


# -- what the hub exports --------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    """One exported series name: its metric family, the family's type and label names."""

    family: str
    type: str
    labels: frozenset[str]


def _metric_modules() -> list[str]:
    """Every module of the hub's packages that creates prometheus_client metrics."""
    creates_metric = re.compile(r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*[\"']")
    modules = []
    for package in METRIC_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if "prometheus_client" in source and creates_metric.search(source):
                modules.append(".".join(path.relative_to(REPO_ROOT).with_suffix("").parts))
    return modules


def _label_names(modules: list[str]) -> dict[str, frozenset[str]]:
    """Label names of each metric family defined as a module-level object of ``modules``."""
    labels = {}
    for name in modules:
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, MetricWrapperBase):
                # NOTE: prometheus_client has no public accessor for a metric's label names.
                labels[value._name] = frozenset(value._labelnames)
    return labels


@pytest.fixture(scope="module")
def exported() -> dict[str, Exported]:
    """Series names the hub exports on /metrics, from the default registry."""
    modules = _metric_modules()
    labels = _label_names(modules)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count", ""), "gauge": ("",),
                "summary": ("_sum", "_count", ""), "info": ("_info",)}

    series = {}
    for family in REGISTRY.collect():
        family_labels = labels.get(family.name, frozenset())
        for suffix in suffixes.get(family.type, ("",)):
            series[family.name + suffix] = Exported(family.name, family.type, family_labels)
    return series


def _with_pending(exported: dict[str, Exported]) -> dict[str, Exported]:
    known = dict(exported)
    for name, (kind, labels) in {**PENDING, **SCRAPE_SERIES}.items():
        known.setdefault(name, Exported(name, kind, frozenset(labels)))
    return known


# -- reading PromQL --------------------------------------------------------------------------------


@dataclass
class MetricUse:
    """A metric name in an expression, with its label matchers and the functions around it."""

    name: str
    matched_labels: set[str]
    enclosing: list[str]


@dataclass
class Expression:
    text: str
    where: str
    metrics: list[MetricUse] = field(default_factory=list)
    grouping_labels: set[str] = field(default_factory=set)
    aggregated: bool = False


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = [(match.lastgroup, match.group()) for match in TOKEN.finditer(text)]
    return [token for token in tokens if token[0] != "space"]


def parse_promql(text: str, where: str) -> Expression:
    """Find the metric names, label matchers and grouping labels of a PromQL expression.

    It tokenizes the text without building a syntax tree. That is enough to tell metric names from
    functions, keywords, grouping labels, strings and Grafana variables, and to know which
    functions enclose each name.
    """
    expression = Expression(text, where)
    tokens = _tokens(text)
    stack: list[str] = []
    pending_call = ""
    index = 0
    while index < len(tokens):
        kind, value = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if kind == "name" and value in GROUPINGS:
            index = _read_grouping(tokens, index + 1, expression)
            continue
        if kind == "name" and (value in AGGREGATIONS or following[0] == "open"):
            expression.aggregated |= value in AGGREGATIONS
            pending_call = value
        elif kind == "name" and value not in KEYWORDS:
            matched = set(MATCHER_LABEL.findall(following[1])) if following[0] == "matchers" else set()
            expression.metrics.append(MetricUse(value, matched, list(stack)))
        elif kind == "open":
            stack.append(pending_call)
            pending_call = ""
        elif kind == "close":
            assert stack, f"{where}: unbalanced ')' in {text!r}"
            stack.pop()
        index += 1

    assert not stack, f"{where}: unbalanced '(' in {text!r}"
    return expression


def _read_grouping(tokens: list[tuple[str, str]], index: int, expression: Expression) -> int:
    """Collect the labels of ``by (...)``, ``on (...)`` and the like, and return the index after the list."""
    if index >= len(tokens) or tokens[index][0] != "open":
        return index
    index += 1
    while index < len(tokens) and tokens[index][0] != "close":
        if tokens[index][0] == "name":
            expression.grouping_labels.add(tokens[index][1])
        index += 1
    return index + 1


# -- the files -------------------------------------------------------------------------------------


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def _panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_expressions() -> list[Expression]:
    """Every PromQL expression of the dashboard: panel targets and label_values() of variables."""
    dashboard = _dashboard()
    expressions = []
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            where = f"panel '{panel['title']}' target {target['refId']}"
            expressions.append(parse_promql(target["expr"], where))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        inner = re.fullmatch(r"label_values\((\w+)(?:\{.*\})?,\s*(\w+)\)", query)
        assert inner, f"variable {variable['name']}: expected label_values(metric, label), got {query!r}"
        expression = parse_promql(inner.group(1), f"variable {variable['name']}")
        expression.metrics[0].matched_labels.add(inner.group(2))
        expressions.append(expression)
    return expressions


def rule_expressions() -> list[Expression]:
    return [parse_promql(rule["expr"], f"alert {rule['alert']}") for rule in _rules()]


ALL_EXPRESSIONS = [*dashboard_expressions(), *rule_expressions()]
EXPRESSION_IDS = [expression.where for expression in ALL_EXPRESSIONS]


# -- the tokenizer itself --------------------------------------------------------------------------


def test_reader_finds_names_inside_functions():
    expression = parse_promql(
        'histogram_quantile(0.95, sum by (le, adapter) (rate(x_seconds_bucket{adapter=~"$adapter"}'
        "[$__rate_interval]))) / on (adapter) group_left y_total offset 5m", "example")

    assert [metric.name for metric in expression.metrics] == ["x_seconds_bucket", "y_total"]
    assert expression.metrics[0].matched_labels == {"adapter"}
    assert expression.metrics[0].enclosing == ["histogram_quantile", "sum", "rate"]
    assert expression.grouping_labels == {"le", "adapter"}
    assert expression.aggregated


def test_reader_skips_strings_and_variables():
    expression = parse_promql('count(up{job=~"a|b(c)"} == 0) or vector(0) and on() z[$__range:1m]', "example")

    assert [metric.name for metric in expression.metrics] == ["up", "z"]
    assert expression.metrics[0].matched_labels == {"job"}


def test_reader_rejects_unbalanced_parentheses():
    with pytest.raises(AssertionError, match="unbalanced"):
        parse_promql("sum(rate(x_total[5m])", "example")


# -- metrics used against metrics exported ---------------------------------------------------------


def test_hub_metric_modules_are_found(exported):
    modules = _metric_modules()

    assert "monitoring.metrics" in modules
    assert "signing.metrics" in modules
    assert "cites_hub_messages_received_total" in exported


@pytest.mark.parametrize("expression", ALL_EXPRESSIONS, ids=EXPRESSION_IDS)
def test_every_metric_used_is_exported(expression, exported):
    unknown = [metric.name for metric in expression.metrics
               if metric.name not in exported and metric.name not in PENDING and metric.name not in SCRAPE_SERIES]

    assert not unknown, f"{expression.where}: not exported by the hub: {unknown}"


@pytest.mark.parametrize("name", sorted(PENDING))
@pytest.mark.xfail(strict=True, reason="the hub does not export this metric yet; see PENDING")
def test_pending_metrics_are_exported(name, exported):
    kind, labels = PENDING[name]

    assert name in exported
    assert exported[name].type == kind
    assert exported[name].labels == frozenset(labels)


@pytest.mark.parametrize("expression", ALL_EXPRESSIONS, ids=EXPRESSION_IDS)
def test_matchers_use_labels_of_metric(expression, exported):
    known = _with_pending(exported)

    for metric in expression.metrics:
        if metric.name not in known:
            continue
        allowed = known[metric.name].labels | TARGET_LABELS | ({"le"} if metric.name.endswith("_bucket") else set())
        assert metric.matched_labels <= allowed, (
            f"{expression.where}: {metric.name} has no label {sorted(metric.matched_labels - allowed)}; "
            f"its labels are {sorted(allowed)}")


@pytest.mark.parametrize("expression", ALL_EXPRESSIONS, ids=EXPRESSION_IDS)
def test_grouping_labels_exist_on_metrics(expression, exported):
    known = _with_pending(exported)
    available = set(TARGET_LABELS)
    for metric in expression.metrics:
        if metric.name in known:
            available |= known[metric.name].labels
            available |= {"le"} if metric.name.endswith("_bucket") else set()

    missing = expression.grouping_labels - available

    assert not missing, f"{expression.where}: groups by {sorted(missing)}, which none of its metrics has"


@pytest.mark.parametrize("expression", ALL_EXPRESSIONS, ids=EXPRESSION_IDS)
def test_rate_applies_to_counters_only(expression, exported):
    known = _with_pending(exported)

    for metric in expression.metrics:
        if metric.enclosing and metric.enclosing[-1] in COUNTER_FUNCTIONS and metric.name in known:
            counter_like = known[metric.name].type == "counter" or metric.name.endswith(("_bucket", "_sum", "_count"))
            assert counter_like, f"{expression.where}: {metric.enclosing[-1]}() of the gauge {metric.name}"


@pytest.mark.parametrize("expression", ALL_EXPRESSIONS, ids=EXPRESSION_IDS)
def test_histogram_quantile_reads_bucket_series(expression, exported):
    for metric in expression.metrics:
        if "histogram_quantile" in metric.enclosing:
            series = exported.get(metric.name)

            assert metric.name.endswith("_bucket"), f"{expression.where}: histogram_quantile() of {metric.name}"
            assert series and series.type == "histogram", f"{expression.where}: {metric.name} is not a histogram"


# -- the dashboard ---------------------------------------------------------------------------------


def test_dashboard_shows_quantiles_of_histograms(exported):
    histograms = {series.family for series in exported.values()
                  if series.type == "histogram" and series.family.startswith("cites_hub_")
                  and series.family.endswith("_seconds")}
    exprs = [expression.text for expression in dashboard_expressions()]

    for histogram in sorted(histograms):
        for quantile in ("0.5", "0.95", "0.99"):
            has_panel = any(f"histogram_quantile({quantile}," in text and f"{histogram}_bucket" in text
                            for text in exprs)
            assert has_panel, f"no panel shows the {quantile} quantile of {histogram}"


@pytest.mark.parametrize("metric", [
    "cites_hub_messages_received_total", "cites_hub_deliveries_total", "cites_hub_deliveries_parked",
    "cites_hub_certificate_expiry_seconds", "cites_hub_queue_depth", "cites_hub_unroutable_total",
    "cites_hub_adapter_up",
])
def test_dashboard_shows_metric(metric):
    used = {m.name for expression in dashboard_expressions() for m in expression.metrics}

    assert metric in used


def test_dashboard_panels_are_complete():
    dashboard = _dashboard()
    panels = _panels(dashboard)

    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["type"] == "prometheus", panel["title"]
        assert panel["targets"], f"panel '{panel['title']}' has no query"
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        assert panel.get("description"), f"panel '{panel['title']}' has no description"


def test_panel_ref_ids_are_unique():
    for panel in _panels(_dashboard()):
        ref_ids = [target["refId"] for target in panel.get("targets", [])]

        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_dashboard_uid_is_stable():
    dashboard = _dashboard()

    assert dashboard["uid"] == "cites-hub"
    assert "id" not in dashboard or dashboard["id"] is None


# -- the alert rules -------------------------------------------------------------------------------


def test_rule_file_structure_is_valid():
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))

    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names)), f"duplicate group names: {names}"
    for group in document["groups"]:
        assert set(group) <= GROUP_KEYS, f"group {group['name']}: unknown keys {set(group) - GROUP_KEYS}"
        assert group["rules"], f"group {group['name']} has no rules"


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_rule_has_for_severity_and_annotations(rule):
    assert set(rule) <= RULE_KEYS, f"unknown keys {set(rule) - RULE_KEYS}"
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
    assert isinstance(rule["expr"], str) and rule["expr"].strip()
    assert DURATION.match(str(rule["for"])), f"'for' is {rule['for']!r}; expected a duration such as 5m"
    assert rule["labels"]["severity"] in SEVERITIES
    assert len(rule["annotations"]["summary"]) <= 120, "the summary should fit a notification's title"
    assert len(rule["annotations"]["description"].split()) >= 15, "the description should say what to do"


def test_alert_names_are_unique():
    names = [rule["alert"] for rule in _rules()]

    assert len(names) == len(set(names)), f"duplicate alerts: {names}"


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_annotations_use_carried_labels(rule, exported):
    expression = parse_promql(rule["expr"], rule["alert"])
    known = _with_pending(exported)
    if expression.aggregated:
        carried = set(expression.grouping_labels)
    else:
        carried = set(TARGET_LABELS)
        for metric in expression.metrics:
            carried |= known[metric.name].labels if metric.name in known else set()
    text = " ".join(rule["annotations"].values())

    named = set(re.findall(r"\$labels\.(\w+)", text))

    assert named <= carried, f"annotations use {sorted(named - carried)}, which the alert does not carry"


@pytest.mark.parametrize("alert", [
    "CitesHubDeliveriesParked", "CitesHubAdapterDown", "CitesHubCertificateExpiring",
    "CitesHubUnroutableMessages", "CitesHubIngressRejectionRateHigh",
])
def test_required_alert_exists(alert):
    names = {rule["alert"] for rule in _rules()}

    assert alert in names


def test_adapter_down_waits_minutes():
    rule = next(rule for rule in _rules() if rule["alert"] == "CitesHubAdapterDown")

    assert "cites_hub_adapter_up" in rule["expr"]
    assert "== 0" in rule["expr"]
    assert re.fullmatch(r"([2-9]|[1-5][0-9])m", rule["for"]), rule["for"]


def test_certificate_alert_threshold_is_30_days():
    rule = next(rule for rule in _rules() if rule["alert"] == "CitesHubCertificateExpiring")

    threshold = re.search(r"cites_hub_certificate_expiry_seconds\)\s*<\s*([0-9 *]+)", rule["expr"]).group(1)

    assert math.prod(int(factor) for factor in threshold.split("*")) == 30 * 24 * 3600


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_description_commands_parse(rule):
    from hub.cli import build_parser

    commands = re.findall(r"\((cites-hub [^()]+)\)", rule["annotations"]["description"])
    for command in commands:
        words = re.sub(r"\{\{[^}]*\}\}", "customs", command).replace('"..."', "reason").split()

        try:
            build_parser().parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"alert {rule['alert']}: '{command}' is not a valid cites-hub command")
