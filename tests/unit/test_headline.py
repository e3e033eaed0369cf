"""The headline of a status message (`deployledger.presentation.headline`), on real helm outputs.

The messages below are helm 3 stderr as the operator captures it (with and without
`--debug`), wrapped or not in the operator's `helm … failed with exit code N. stderr: …`.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import EXAMPLES

from deployledger.presentation.headline import headline, is_debug, parse_headline

DEBUG_TIMEOUT = """\
history.go:56: [debug] getting history for release checkout-api
upgrade.go:144: [debug] preparing upgrade for checkout-api
client.go:338: [debug] checking 6 resources for changes
wait.go:48: [debug] beginning wait for 6 resources with timeout of 5m0s
ready.go:297: [debug] Deployment is not ready: shop/checkout-api. 2 out of 3 expected pods are ready
upgrade.go:434: [debug] warning: Upgrade "checkout-api" failed: timed out waiting for the condition
Error: UPGRADE FAILED: timed out waiting for the condition
helm.go:84: [debug] timed out waiting for the condition
UPGRADE FAILED
main.newUpgradeCmd.func2
\thelm.sh/helm/v3/cmd/helm/upgrade.go:203
runtime.goexit
\truntime/asm_amd64.s:1650
"""

DEBUG_HOOK = """\
history.go:56: [debug] getting history for release checkout-api
client.go:740: [debug] Add/Modify event for checkout-api-db-migrate: MODIFIED
upgrade.go:434: [debug] warning: Upgrade "checkout-api" failed: pre-upgrade hooks failed: 1 error occurred:
\t* job failed: BackoffLimitExceeded


Error: UPGRADE FAILED: pre-upgrade hooks failed: 1 error occurred:
\t* job failed: BackoffLimitExceeded


helm.go:84: [debug] pre-upgrade hooks failed: 1 error occurred:
\t* job failed: BackoffLimitExceeded
"""  # noqa: E501 (helm's own long lines)

OCI_401 = """\
helm.go:84: [debug] failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized
Error: failed to download "oci://registry.example.com/charts/billing-worker" at version "2.3.1"
helm.go:84: [debug] failed to download "oci://registry.example.com/charts/billing-worker": 401
helm.sh/helm/v3/pkg/downloader.(*ChartDownloader).DownloadTo
"""  # noqa: E501 (helm's own long lines)

WARNING_THEN_ERROR = (
    "coalesce.go:286: warning: cannot overwrite table with non table for grafana.ingress.hosts\n"
    "Error: INSTALLATION FAILED: rendered manifests contain a resource that already exists. "
    'Unable to continue with install: ServiceAccount "grafana" in namespace "monitoring" exists\n'
)

TWO_ERRORS = (
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n"
    "retrying\n"
    "Error: UPGRADE FAILED: has no deployed releases\n"
)

HAPPY = (
    'Release "checkout-api" has been upgraded. Happy Helming!\n'
    "NAME: checkout-api\nLAST DEPLOYED: Wed Nov 18 22:45:25 2026\nSTATUS: deployed\n"
)

OPERATOR = "helm upgrade --install checkout-api failed with exit code 1. stderr: "


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            DEBUG_TIMEOUT,
            "Error: UPGRADE FAILED: timed out waiting for the condition",
            id="debug-output-then-error",
        ),
        pytest.param(
            DEBUG_HOOK,
            "Error: UPGRADE FAILED: pre-upgrade hooks failed: 1 error occurred: "
            "job failed: BackoffLimitExceeded",
            id="error-list-joined",
        ),
        pytest.param(
            OCI_401,
            'Error: failed to download "oci://registry.example.com/charts/billing-worker" '
            'at version "2.3.1"',
            id="error-between-debug-lines",
        ),
        pytest.param(WARNING_THEN_ERROR, WARNING_THEN_ERROR.splitlines()[1], id="warning-first"),
        pytest.param(
            TWO_ERRORS, "Error: UPGRADE FAILED: has no deployed releases", id="the-last-error-line"
        ),
        pytest.param(
            "Error: UPGRADE FAILED: 2 errors occurred:\n\t* a\n\t* b\nnot a bullet\n\t* c\n",
            "Error: UPGRADE FAILED: 2 errors occurred: a; b",
            id="only-the-bullets-that-follow",
        ),
        pytest.param(
            HAPPY,
            'Release "checkout-api" has been upgraded. Happy Helming!',
            id="success-first-line",
        ),
        pytest.param("\n\n  deployed  \n", "deployed", id="blank-lines-skipped"),
        pytest.param(
            "history.go:56: [debug] only debug\nclient.go:1: [debug] more",
            "history.go:56: [debug] only debug",
            id="only-debug-lines",
        ),
        pytest.param(
            'time=2026-01-01T00:00:00Z level=DEBUG msg="getting history"\n'
            "release checkout-api: context deadline exceeded\n",
            "release checkout-api: context deadline exceeded",
            id="helm4-slog-debug",
        ),
        pytest.param("Error: first\r\nmore\r\nError: second\r\n", "Error: second", id="crlf"),
        pytest.param("Error: old\rError: progress\r", "Error: progress", id="bare-cr"),
    ],
)
def test_the_headline_is_the_most_informative_line(message: str, expected: str) -> None:
    assert headline(message) == expected


class TestTheOperatorsWrapping:
    def test_its_error_line_wins_whatever_line_it_is_on_with_operation_and_exit_code_beside(
        self,
    ) -> None:
        beside = " (helm upgrade --install checkout-api, exit code 1)"
        assert headline(OPERATOR + DEBUG_TIMEOUT) == (
            "Error: UPGRADE FAILED: timed out waiting for the condition" + beside
        )
        inline = OPERATOR + "Error: UPGRADE FAILED: another operation is in progress"
        assert headline(inline) == (
            "Error: UPGRADE FAILED: another operation is in progress" + beside
        )
        parsed = parse_headline(inline)
        assert (parsed.operation, parsed.exit_code) == ("upgrade --install checkout-api", 1)
        assert parsed.text == "Error: UPGRADE FAILED: another operation is in progress"

    def test_a_stderr_without_an_error_line_heads_by_its_first_line(self) -> None:
        repo = "helm repo add acme failed with exit code 1. stderr: 401 Unauthorized"
        assert headline(repo) == "401 Unauthorized (helm repo add acme, exit code 1)"

    def test_without_an_error_line_the_operator_line_names_the_failure(self) -> None:
        assert headline(OPERATOR) == "helm upgrade --install checkout-api failed with exit code 1"
        assert headline(OPERATOR + "history.go:56: [debug] x\nclient.go:2: [debug] y") == (
            "helm upgrade --install checkout-api failed with exit code 1"
        )
        assert headline("helm repo update acme failed with exit code 137") == (
            "helm repo update acme failed with exit code 137"
        )

    def test_an_operator_line_later_in_the_message_counts_too(self) -> None:
        message = "attempt 3 of 3\nhelm upgrade --install api failed with exit code 2."
        assert headline(message) == "helm upgrade --install api failed with exit code 2"


def test_no_message_has_no_headline() -> None:
    assert headline(None) == ""
    assert headline("") == ""
    assert headline(" \n\t\n") == ""


def test_debug_lines_are_helms_file_line_debug_prefix_or_slog_level() -> None:
    assert is_debug("history.go:56: [debug] getting history")
    assert is_debug("  client.go:617: [debug] Looks like there are no changes")
    assert is_debug('time=x level=DEBUG msg="y"')
    assert not is_debug("coalesce.go:286: warning: cannot overwrite table")
    assert not is_debug("Error: [debug] in the text")
    assert not is_debug("\thelm.sh/helm/v3/cmd/helm/upgrade.go:203")


def test_every_failure_of_the_examples_is_headed_by_its_error_line() -> None:
    lines = EXAMPLES.read_text(encoding="utf-8").splitlines()
    failures = [json.loads(line) for line in lines if line.strip()]
    failures = [r["statusMessage"] for r in failures if not r["success"]]
    assert len(failures) >= 10
    for message in failures:
        errors = [line.strip() for line in message.splitlines() if line.startswith("Error:")]
        assert headline(message).startswith(errors[-1]), message


@given(st.text(max_size=300))
def test_the_headline_is_one_line_of_the_message_or_nothing(message: str) -> None:
    line = headline(message)
    assert "\n" not in line
    assert "\r" not in line
    assert line == line.strip()
    assert bool(line) == bool(message.strip())
