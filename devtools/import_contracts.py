"""import-linter contract types that name external modules more finely than the built-in ones.

import-linter sees an external package only as its top-level name (`eventsourcing`), so a
built-in contract cannot tell `eventsourcing.domain` from `eventsourcing.persistence`. These
contracts read the imported name off each import's source line instead.

- `allowed_external`: the `source_modules` (as packages) import nothing from outside the
  project but the standard library (less `forbidden_stdlib`) and `allowed`.
- `external_confined`: outside `allowed_importers`, no module of the project imports
  `external`, except the names in `except_for`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import grimp
from importlinter import Contract, ContractCheck, fields, output

IMPORTED_NAME = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\b|import\s+([\w.]+))")


@dataclass(frozen=True)
class Offence:
    importer: str
    line_number: int
    line: str


def imported_names(graph: grimp.ImportGraph, importer: str, imported: str) -> list[tuple[str, Any]]:
    """The dotted name each import of `imported` by `importer` names, with its details."""
    found = []
    for detail in graph.get_import_details(importer=importer, imported=imported):
        match = IMPORTED_NAME.match(detail["line_contents"])
        name = (match.group(1) or match.group(2)) if match else imported
        found.append((name, detail))
    return found


def strings(field: object) -> set[str]:
    """A list option's values (import-linter types its fields loosely)."""
    return {str(value) for value in cast(Iterable[object], field or ())}


def under(name: str, prefixes: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def modules_of(graph: grimp.ImportGraph, packages: set[str]) -> set[str]:
    found = set()
    for package in packages:
        found.add(package)
        found |= graph.find_descendants(package)
    return found


def render(check: ContractCheck) -> None:
    for offence in check.metadata["offences"]:
        output.print_error(
            f"{offence.importer}:{offence.line_number}: {offence.line.strip()}", bold=False
        )
    output.new_line()


class AllowedExternalContract(Contract):
    """Only the standard library and the named external modules may be imported."""

    type_name = "allowed_external"
    source_modules = fields.ListField(subfield=fields.StringField())
    allowed = fields.ListField(subfield=fields.StringField())
    forbidden_stdlib = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        allowed = strings(self.allowed)
        forbidden = strings(self.forbidden_stdlib)
        root = next(iter(self.session_options["root_packages"]))
        offences = []
        for importer in sorted(modules_of(graph, strings(self.source_modules))):
            for imported in graph.find_modules_directly_imported_by(importer):
                if imported == root or imported.startswith(root + "."):
                    continue
                for name, detail in imported_names(graph, importer, imported):
                    stdlib = name.split(".")[0] in sys.stdlib_module_names
                    ok = under(name, allowed) or (stdlib and not under(name, forbidden))
                    if not ok:
                        offences.append(
                            Offence(importer, detail["line_number"], detail["line_contents"])
                        )
        return ContractCheck(kept=not offences, metadata={"offences": offences})

    def render_broken_contract(self, check: ContractCheck) -> None:
        render(check)


class ExternalConfinedContract(Contract):
    """Only the allowed importers import an external package (but for a few of its names)."""

    type_name = "external_confined"
    external = fields.StringField()
    except_for = fields.ListField(subfield=fields.StringField(), required=False)
    allowed_importers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        external = str(self.external)
        exempt = strings(self.except_for)
        allowed = modules_of(graph, strings(self.allowed_importers))
        offences = []
        top = external.split(".")[0]
        for importer in sorted(graph.find_modules_that_directly_import(top)):
            if importer in allowed:
                continue
            for name, detail in imported_names(graph, importer, top):
                if under(name, {external}) and not under(name, exempt):
                    offences.append(
                        Offence(importer, detail["line_number"], detail["line_contents"])
                    )
        return ContractCheck(kept=not offences, metadata={"offences": offences})

    def render_broken_contract(self, check: ContractCheck) -> None:
        render(check)
