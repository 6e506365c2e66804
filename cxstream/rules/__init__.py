"""Typed alerting and action rules, loaded from ``rules/*.yaml``; routing and silences.

* :func:`load_rules` / :func:`check_rules`: read a rules directory into a
  :class:`RuleSet`, or list every problem with file, line, path and a fix hint;
* :func:`rules_json_schema`: the JSON Schema of a rules file, for editors;
* :class:`Router`: alert state changes in, notification decisions out (Alertmanager's
  routing tree, grouping, inhibition and silences, driven by event time);
* :class:`Silence`, :class:`SilenceStore`, :class:`RedisSilenceStore`,
  :class:`MemorySilenceStore`: silences shared through Redis.

The reference of every field is ``docs/rules.md``.
"""

from cxstream.rules.action_rules import (
    ApologyRule,
    ApologyTemplates,
    DelayNoticeRule,
    DelayTriggers,
    QuietHours,
    ScoreRange,
    TemplateChoice,
    VipTaskRule,
)
from cxstream.rules.base import Duration, format_duration, parse_duration
from cxstream.rules.digest_rules import ReportDigestRule
from cxstream.rules.grouping import AlertGroup, Notification, NotificationReason
from cxstream.rules.kpi_rules import (
    DetectorSettings,
    Expectation,
    ExpectationMatch,
    ExpectationStatus,
    FixedThreshold,
    KpiAlertRule,
    SeverityLevels,
)
from cxstream.rules.loading import RuleProblem, RulesError, check_rules, load_rules
from cxstream.rules.matchers import Matcher, parse_matcher
from cxstream.rules.receivers import EmailConfig, Receiver, SlackConfig, WebhookConfig
from cxstream.rules.routes import InhibitRule, Route
from cxstream.rules.routing import Router, alert_labels
from cxstream.rules.ruleset import (
    CountrySettings,
    Defaults,
    Rule,
    RuleFile,
    RuleSet,
    VoucherPool,
)
from cxstream.rules.schema import rules_json_schema
from cxstream.rules.silences import (
    MemorySilenceStore,
    RedisSilenceStore,
    Silence,
    SilenceNotFoundError,
    SilenceStore,
    new_silence,
)

__all__ = [
    "AlertGroup",
    "ApologyRule",
    "ApologyTemplates",
    "CountrySettings",
    "Defaults",
    "DelayNoticeRule",
    "DelayTriggers",
    "DetectorSettings",
    "Duration",
    "EmailConfig",
    "Expectation",
    "ExpectationMatch",
    "ExpectationStatus",
    "FixedThreshold",
    "InhibitRule",
    "KpiAlertRule",
    "Matcher",
    "MemorySilenceStore",
    "Notification",
    "NotificationReason",
    "QuietHours",
    "Receiver",
    "RedisSilenceStore",
    "ReportDigestRule",
    "Route",
    "Router",
    "Rule",
    "RuleFile",
    "RuleProblem",
    "RuleSet",
    "RulesError",
    "ScoreRange",
    "SeverityLevels",
    "Silence",
    "SilenceNotFoundError",
    "SilenceStore",
    "SlackConfig",
    "TemplateChoice",
    "VipTaskRule",
    "VoucherPool",
    "WebhookConfig",
    "alert_labels",
    "check_rules",
    "format_duration",
    "load_rules",
    "new_silence",
    "parse_duration",
    "parse_matcher",
    "rules_json_schema",
]
