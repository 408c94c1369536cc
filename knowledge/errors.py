"""What can go wrong in the knowledge base: specific exceptions with a message for staff."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base class: the message is written for the member of staff who made the request."""


class IngestError(KnowledgeError):
    """A file was refused before anything was stored."""


class UnsupportedFileType(IngestError):
    pass


class NotText(IngestError):
    pass


class DocumentTooLarge(IngestError):
    pass


class EmptyDocument(IngestError):
    pass


class InvalidFrontMatter(IngestError):
    pass


class DuplicateDocument(IngestError):
    pass


class NoChange(IngestError):
    pass


class DocumentExists(IngestError):
    pass


class DocumentNotFound(KnowledgeError):
    pass


class VersionNotFound(KnowledgeError):
    pass


class InvalidVersionAction(KnowledgeError):
    """E.g. rolling back to a version that was never published, or approving a stale one."""


class ConcurrentEdit(KnowledgeError):
    """Someone else published a version of the same document while this one was prepared."""
