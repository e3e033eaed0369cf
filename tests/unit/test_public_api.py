"""The public API: exactly what `deployledger` exports, and that it ships typed."""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path
from types import ModuleType

import deployledger
from deployledger import (
    DeployLedgerError,
    InvalidReport,
    InvalidStoreURL,
    SchemaMissing,
    StoreUnavailable,
    WriteConflict,
)

ROOT = Path(__file__).resolve().parents[2]


def public_names(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }


class TestExportedMembers:
    def test_all_lists_exactly_the_public_names_of_the_package(self) -> None:
        assert set(deployledger.__all__) == public_names(deployledger)

    def test_all_has_no_duplicates(self) -> None:
        assert len(deployledger.__all__) == len(set(deployledger.__all__))

    def test_every_exported_name_resolves(self) -> None:
        for name in deployledger.__all__:
            assert getattr(deployledger, name) is not None

    def test_the_facade_and_the_report_model_are_exported(self) -> None:
        assert {"Ledger", "WorkloadDeploymentStatus", "Receipt", "DeploymentState"} <= set(
            deployledger.__all__
        )

    def test_every_exported_exception_derives_from_one_base(self) -> None:
        errors = [
            value
            for value in (getattr(deployledger, n) for n in deployledger.__all__)
            if isinstance(value, type) and issubclass(value, BaseException)
        ]
        assert DeployLedgerError in errors
        assert len(errors) >= 4
        assert all(issubclass(e, DeployLedgerError) for e in errors)

    def test_the_error_hierarchy_marks_what_is_retryable(self) -> None:
        assert issubclass(WriteConflict, StoreUnavailable)
        assert not issubclass(InvalidReport, StoreUnavailable)
        assert not issubclass(SchemaMissing, StoreUnavailable)
        assert issubclass(InvalidReport, ValueError)
        assert issubclass(InvalidStoreURL, ValueError)


class TestTyping:
    def test_py_typed_is_in_the_package(self) -> None:
        marker = importlib.resources.files("deployledger").joinpath("py.typed")
        assert marker.is_file()

    def test_py_typed_is_declared_as_package_data(self) -> None:
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
        package_data = pyproject["tool"]["setuptools"]["package-data"]["deployledger"]
        assert "py.typed" in package_data
