"""The one error `apply` reports: one line naming the file, the resource and the field."""

from __future__ import annotations


class ApplyError(Exception):
    """What went wrong, where: `FILE: RESOURCE: FIELD: message` (parts that are unknown left out).

    `resource` is a template's logical id or a manifest's `Kind/namespace/name`; `field` a
    dotted path inside it (`Properties.Spec.Listeners[0].Port`, `spec.listeners[0]`).
    """

    def __init__(
        self, message: str, *, file: str | None = None, resource: str | None = None, field: str | None = None
    ) -> None:
        self.message = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
        self.file, self.resource, self.field = file, resource, field
        super().__init__(self.render())

    def render(self) -> str:
        return ": ".join(part for part in (self.file, self.resource, self.field, self.message) if part)

    def located(self, *, file: str | None = None, resource: str | None = None) -> ApplyError:
        """The same error with the file and resource filled in where they were missing."""
        return ApplyError(self.message, file=self.file or file, resource=self.resource or resource, field=self.field)
