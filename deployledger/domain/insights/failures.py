"""Failure categories and fingerprints of helm failure messages. Pure.

`categorize(message)` names the cause of a failed outcome from an ordered, versioned rule
table (`RULES`, data): the first rule with a pattern found in the message wins, matching
case-insensitively, so the order says which cause is the most specific when a message names
several (a root cause before the wrapper that reports it: `cannot patch ... field is
immutable` inside `has been rolled back due to atomic being set` is `immutable-field`).
Anything unmatched is `unknown`.

`template(message)` is helm's error in the message with its variable parts masked (release
and resource names, namespaces, ids, hashes, numbers, durations, timestamps, IPs, URLs,
quoted values), the upstream operator's wrapper (`helm OPERATION failed with exit code N.
stderr: `) left out; `fingerprint(message)` is a short stable hash of it, so the same helm
error on 300 workloads, wrapped or bare, has one fingerprint.

Categories and fingerprints are derived, never stored in events: change `RULES` (or the
masks) and bump `RULES_VERSION`, then `deployledger reclassify` (or `rebuild`) applies it.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass

# Bump on any change to RULES, to the masks below or to what `template` masks; a test pins
# a digest of the rules and masks. 2: the operator's wrapper and helm's action prefix
# (`UPGRADE FAILED: `, ...) are left out of the template.
RULES_VERSION = 2

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Rule:
    """A category and the patterns (regular expressions, matched case-insensitively) that
    name it. `label` is the human name shown in help and documentation."""

    category: str
    label: str
    patterns: tuple[str, ...]


def _lit(*texts: str) -> tuple[str, ...]:
    return tuple(re.escape(t) for t in texts)


# Most specific first. Sources: helm 3.19 / helm 4 source strings (pkg/action, pkg/kube,
# pkg/storage, pkg/chart, pkg/repo) and the helm issue tracker; see DESIGN.md
# "Helm failure categories" and tests/data/helm_failures.jsonl.
RULES: tuple[Rule, ...] = (
    Rule("release-too-large", "release too large", (r"too long: must have at most \d+",)),
    Rule(
        "rollback-failed",
        "rollback failed",
        _lit(
            "an error occurred while rolling back the release",
            "an error occurred while uninstalling the release",
        ),
    ),
    # Pod-level causes: progress messages and the stderr of `--wait` failures. Each is more
    # specific than the timeout that reports it.
    Rule("oom-killed", "OOMKilled", _lit("oomkilled")),
    Rule(
        "image-pull",
        "ImagePullBackOff / ErrImagePull",
        (
            *_lit(
                "imagepullbackoff", "errimagepull", "back-off pulling image", "failed to pull image"
            ),
            r"invalidimagename",
        ),
    ),
    Rule(
        "crash-loop",
        "CrashLoopBackOff",
        _lit("crashloopbackoff", "back-off restarting failed container"),
    ),
    Rule(
        "unschedulable",
        "FailedScheduling / Insufficient resources",
        (
            *_lit("failedscheduling", "nodes are available", "unschedulable"),
            r"insufficient (cpu|memory|ephemeral-storage|pods|nvidia)",
        ),
    ),
    Rule(
        "admission-denied",
        "admission webhook denied",
        (r"admission webhook \"[^\"]*\" denied the request", r"\bdenied the request:"),
    ),
    Rule(
        "values-schema",
        "values schema",
        _lit("values don't meet the specifications of the schema"),
    ),
    Rule(
        "template-error",
        "template error",
        (
            *_lit(
                "execution error at (",
                "parse error at (",
                "parse error in (",
                "yaml parse error on",
                "error converting yaml to json",
            ),
            r"template: \S+:\d+(:\d+)?: executing ",
            r"\bfunction \"[^\"]*\" not defined",
        ),
    ),
    Rule("kube-version", "kubeVersion mismatch", _lit("chart requires kubeversion")),
    Rule(
        "chart-not-found",
        "chart or version not found",
        (
            r"not found in \S+ (chart )?repository",
            r"matching \S+ not found in \S+ index",
            r"no chart version found for",
            r"no chart name found",
            r"chart \S+ not found",
        ),
    ),
    Rule(
        "repository-unreachable",
        "repository unreachable",
        (
            *_lit(
                "is not a valid chart repository or cannot be reached",
                "no cached repo found",
                "failed to fetch",
                "repo not found",
            ),
            r"could not find protocol handler for",
        ),
    ),
    Rule(
        "lock-held",
        "another operation in progress",
        _lit("another operation (install/upgrade/rollback) is in progress"),
    ),
    Rule("no-deployed-release", "no deployed release", _lit("has no deployed releases")),
    Rule(
        "name-in-use",
        "name still in use",
        _lit(
            "cannot re-use a name that is still in use", "cannot reuse a name that is still in use"
        ),
    ),
    Rule(
        "ownership-conflict",
        "ownership / adoption conflict",
        _lit(
            "exists and cannot be imported into the current release",
            "invalid ownership metadata",
            "rendered manifests contain a resource that already exists",
        ),
    ),
    Rule(
        "field-manager-conflict",
        "server-side apply field-manager conflict",
        (r"conflicts? with \"[^\"]*\"( using \S+)?", r"the field manager '[^']*' owns fields"),
    ),
    Rule(
        "immutable-field",
        "immutable field",
        (
            *_lit(
                "field is immutable",
                "failed to replace object",
                "updates to statefulset spec for fields other than",
            ),
            r"cannot patch \"[^\"]*\" with kind",
        ),
    ),
    Rule(
        "missing-crd",
        "missing CRD / removed API",
        _lit(
            "unable to build kubernetes objects from release manifest",
            "ensure crds are installed first",
            "resource mapping not found",
            "contains removed kubernetes api(s)",
            "no matches for kind",
        ),
    ),
    Rule(
        "hook-failed",
        "hook failed",
        (
            r"(pre|post)-(install|upgrade|rollback|delete) hooks failed",
            r"failed (pre|post)-(install|upgrade|rollback|delete)",
            r"job \S*\s*failed: backofflimitexceeded",
            r"\bhook \S+ failed",
        ),
    ),
    Rule(
        "cluster-unreachable",
        "Kubernetes cluster unreachable",
        (
            *_lit(
                "kubernetes cluster unreachable", "the server has asked for the client to provide"
            ),
            r"dial tcp \S+: connect: connection refused",
        ),
    ),
    Rule(
        "wait-timeout",
        "wait timeout",
        (
            *_lit(
                "timed out waiting for the condition",
                "context deadline exceeded",
                "client rate limiter wait returned an error",
            ),
            r"\bnot ready\. status: ",
        ),
    ),
    Rule(
        "atomic-rollback",
        "atomic rollback",
        (r"has been (rolled back|uninstalled) due to (atomic|rollback-on-failure) being set",),
    ),
)

CATEGORIES: tuple[str, ...] = (*tuple(r.category for r in RULES), UNKNOWN)

# Patterns are written in lower case and matched against the lowered message: Python's
# IGNORECASE matching is several times slower, and this runs for every failed outcome.
# Each pattern on its own, behind a literal every one of its matches contains: `in` rules out
# most patterns at a fraction of a search's cost, and a rule matches when any pattern does.


def required_literal(pattern: str) -> str:
    """The longest run of characters that every match of `pattern` contains, read off the
    standard library's own parse of it; "" when there is none (or the parser is not the one
    this knows, which only costs the shortcut)."""
    try:
        parser = importlib.import_module("re._parser")  # the standard library's, 3.11+
        literal = importlib.import_module("re._constants").LITERAL
        parsed = parser.parse(pattern)
        if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
            return ""
        best, run = "", ""
        for op, argument in parsed:  # the top level: each item is part of every match
            if op is literal:
                run += chr(argument)
            else:
                best, run = max(best, run, key=len), ""
        return max(best, run, key=len)
    except Exception:
        return ""


_COMPILED = tuple(
    (rule.category, tuple((required_literal(p), re.compile(p)) for p in rule.patterns))
    for rule in RULES
)
# The longest text categorized or templated: helm's error comes last, after --debug noise.
_MAX_SCAN = 64 * 1024


def _scanned(message: str) -> str:
    if len(message) <= _MAX_SCAN:
        return message
    half = _MAX_SCAN // 2
    return message[:half] + "\n" + message[-half:]


def categorize(message: str | None) -> str:
    """The failure category of a message: the first rule in `RULES` with a pattern found in
    it (case-insensitively), else `unknown`."""
    if not message:
        return UNKNOWN
    text = _scanned(message).lower()
    for category, patterns in _COMPILED:
        for literal, pattern in patterns:
            if literal in text and pattern.search(text):
                return category
    return UNKNOWN


# -- templates -------------------------------------------------------------------------

# Masks, applied in this order: later ones never see what earlier ones replaced (the
# placeholders have no digits, quotes or names left in them).
_WORD = r"[A-Za-z0-9][\w.\-/]*"
_MASKS: tuple[tuple[str, str], ...] = (
    # helm's action prefix names no cause (DESIGN.md): an upgrade --install fails with
    # INSTALLATION FAILED the first time and UPGRADE FAILED after, for one problem.
    (r"^Error: (?:UPGRADE|INSTALLATION|ROLLBACK|UNINSTALL(?:ATION)?) FAILED: ", "Error: "),
    (r"\[deployledger: \d+ bytes cut from the middle of \d+ \(sha256 [0-9a-f]+\)\]", "[cut]"),
    (r"<[^<>\s]{1,200}>", "<expr>"),  # template expressions: <.Values.a.b>
    (r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", "<url>"),
    (r"\"(?:[^\"\\\n]|\\.)*\"", '"<v>"'),
    (r"\\\"(?:[^\"\\\n]|\\[^\"])*\\\"", '\\"<v>\\"'),  # quotes escaped inside quotes
    (r"(?<![A-Za-z])'[^'\n]{0,200}'(?![A-Za-z])", "'<v>'"),  # not an apostrophe
    (r"`[^`\n]{0,200}`", "`<v>`"),
    (r"\b[\w.-]+(/[\w.-]+)*/templates/[\w./-]+", "<path>"),
    (r"(?<![\w.>)])/(?:[\w.-]+/)+[\w.-]+", "<path>"),
    (
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?( [A-Z]{3,4})?",
        "<time>",
    ),
    (
        r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}( \d{4})?",
        "<time>",
    ),
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<id>"),
    (r"\b(sha256|sha512):[0-9a-f]{16,}\b", "<hash>"),
    (r"\[[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\](:\d+)?", "<ip>"),
    (r"\b[0-9a-f]{1,4}(:[0-9a-f]{0,4}){4,7}\b", "<ip>"),
    (r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b", "<ip>"),
    (r"\blookup \S+", "lookup <host>"),
    (r"\b([A-Z][A-Za-z]+)/" + _WORD, r"\1/<name>"),
    (
        r"\b(release|namespace|name|pod|job|container|node|secret|configmap|service|deployment"
        r"|statefulset|daemonset|replicaset|ingress|hook)\s+"
        r"(?!(?:manifest|manifests|failed|is|has|was|name|names|not|the|a|an|and|of|to|with"
        r"|in|on|from|version|versions|spec|that|already|exists|contains|requires|hooks?"
        r"|releases?|condition|resource|resources|kind|kinds|ready|affinity|<\w+>|\"<v>\"|'<v>')\b)"
        + _WORD,
        r"\1 <name>",
    ),
    (r"\b(name|namespace): (?![\"'<])" + _WORD, r"\1: <name>"),
    (r"\bnot found in (?![\"'<])[\w.-]+ index\b", "not found in <name> index"),
    (r"\b\d+(\.\d+)?(ns|us|µs|ms|s|m|h)(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))*\b", "<duration>"),
    (r"\bv?\d+(\.\d+)+([-+][\w.-]+)?\b", "<version>"),
    (r"\b(?=[\w.-]*\d)[a-z0-9]+(?:[-.][a-z0-9]+)+\b", "<name>"),  # x-5d8f9-abcde, pool-1
    (r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b", "<hash>"),
    (r"\b\d+\b", "<n>"),
    (r"[ \t]+", " "),
    (r"\s*\n\s*", "\n"),
)
# A mask whose required literal is not in the text cannot change it.
_COMPILED_MASKS = tuple((required_literal(p), re.compile(p), r) for p, r in _MASKS)

# The upstream operator's wrapper: `helm upgrade --install NAME failed with exit code N.
# stderr: ...`: the operation's arguments are names, its flags are not.
_HELM_WRAPPER = re.compile(r"helm (\S[^\n]{0,500}?) failed with exit code -?\d{1,10}\. stderr: ?")
_DEBUG_LINE = re.compile(r"^\S+\.go:\d+: \[debug\]", re.MULTILINE)
MAX_TEMPLATE = 2000


_SUBCOMMANDS = frozenset({"add", "update", "remove", "install", "upgrade", "rollback"})


def _wrapper(operation: str) -> str:
    words = operation.split()
    kept = [w if w.startswith("-") or w in _SUBCOMMANDS else "<name>" for w in words[1:]]
    return " ".join(["helm", words[0], *kept, "failed with exit code <n>. stderr: "])


def template(message: str | None) -> str:
    """The helm error in the message with its variable parts masked, whitespace collapsed,
    at most `MAX_TEMPLATE` characters. The upstream operator's wrapper (`helm OPERATION
    failed with exit code N. stderr: `), the warnings before helm's error and its
    `--debug` lines after it are left out, so a wrapped and a bare form of one error share
    a template; a wrapper around an empty stderr is all there is, so it is the template."""
    if not message:
        return ""
    wrapper, text = unmasked(message)
    for literal, pattern, replacement in _COMPILED_MASKS:
        if literal in text:
            text = pattern.sub(replacement, text)
    text = text.strip()
    return (text or wrapper.strip())[:MAX_TEMPLATE]


def unmasked(message: str) -> tuple[str, str]:
    """The message before masking, in two parts: the helm wrapper's template (or "") and
    the text the masks apply to (helm's error, without the wrapper, the warnings before it
    and the `--debug` lines after it)."""
    text = _scanned(message)
    prefix = ""
    wrapper = _HELM_WRAPPER.match(text)
    if wrapper is not None:
        prefix = _wrapper(wrapper.group(1))
        text = text[wrapper.end() :]
    error = text.rfind("Error: ")
    if error > 0:  # warnings before helm's error vary from run to run
        text = text[error:]
    debug = _DEBUG_LINE.search(text)
    if debug is not None and debug.start() > 0:
        text = text[: debug.start()]
    return prefix, text


def fingerprint(message: str | None) -> str:
    """A short stable hash (12 hex digits) of `template(message)`."""
    return hashlib.sha256(template(message).encode("utf-8")).hexdigest()[:12]


def rules_digest() -> str:
    """A digest of the rule table and the masks: a test pins it to `RULES_VERSION`."""
    parts = [repr((r.category, r.patterns)) for r in RULES] + [repr(m) for m in _MASKS]
    parts.append(f"wrapper left out: {_HELM_WRAPPER.pattern}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]
