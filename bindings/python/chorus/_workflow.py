"""chorus.Workflow: the workflow document (React Flow shape), read, validated and written by C++."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple, Union

from . import _core
from ._errors import WorkflowValidationError

if TYPE_CHECKING:
    from ._client import Client

Problem = _core.Problem


def _checked(parsed: Tuple[Optional["_core.Workflow"], List["_core.Problem"]], source: str) -> "Workflow":
    handle, problems = parsed
    if handle is None:
        details = "; ".join(p.describe() for p in problems) or "unreadable document"
        raise WorkflowValidationError(f"{source}: {details}", problems=problems)
    return Workflow(handle)


class Workflow:
    """A workflow document. Build it with ``Workflow.load(path)``, ``Workflow.from_dict(data)`` or
    ``Workflow.from_json(text)``; an unreadable document raises WorkflowValidationError. A document
    that reads but has problems loads fine: ``validate()`` lists them (errors make it
    unrunnable). ``to_dict()`` / ``to_json()`` give the document back exactly as read."""

    __slots__ = ("_handle",)

    def __init__(self, handle: "_core.Workflow") -> None:
        self._handle = handle

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Workflow":
        """Reads a workflow JSON file."""
        p = os.fspath(path)
        if not os.path.exists(p):
            from ._errors import NotFoundError

            raise NotFoundError(f"workflow file '{p}' does not exist")
        return _checked(_core.Workflow.load(p), p)

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Workflow":
        """Reads a workflow from JSON text."""
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return _checked(_core.Workflow.parse(text), "workflow")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Workflow":
        """Reads a workflow from a dict (as json.load would give)."""
        return _checked(_core.Workflow.from_data(dict(data)), "workflow")

    @property
    def id(self) -> str:
        return self._handle.id

    @property
    def name(self) -> str:
        return self._handle.name

    @property
    def description(self) -> str:
        return self._handle.description

    @property
    def node_ids(self) -> List[str]:
        return list(self._handle.node_ids)

    def validate(self, client: Optional["Client"] = None) -> List["_core.Problem"]:
        """Every problem at once (errors first, then warnings). With a client, provider ids are
        checked against its registered providers (Python providers included)."""
        if client is not None:
            return list(client._core.validate(self._handle))
        return list(self._handle.validate())

    def check(self, client: Optional["Client"] = None) -> None:
        """Raises WorkflowValidationError (with ``problems``) when validate() finds errors."""
        problems = self.validate(client)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise WorkflowValidationError(
                "; ".join(p.describe() for p in errors), problems=problems)

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._handle.to_data())

    def to_json(self, pretty: bool = False) -> str:
        return str(self._handle.to_json(pretty))

    def __repr__(self) -> str:
        return f"Workflow(id={self.id!r}, name={self.name!r}, nodes={len(self.node_ids)})"
