"""The registry of every document the hub issued (certificates, sanction letters, demand notes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.models.meta import Base, utcnow


class DocumentSeries(Base):
    """The next number of a series (``MPCZ/ND/2026-27``).

    Issuing takes the row lock with ``UPDATE ... RETURNING`` in the issuing
    transaction, so concurrent issues queue on it: no duplicates, and a
    rolled-back issue gives its number back, so no gaps.
    """

    __tablename__ = "document_series"

    series: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


def status_at(status: str, valid_until: datetime, now: datetime) -> str:
    """valid / revoked / superseded / expired, as a verifier should be told (a registry row, or its
    snapshot hub.registry.RegistryEntry)."""
    if status != "valid":
        return status
    if now >= valid_until:
        return "expired"
    return "valid"


class IssuedDocument(Base):
    __tablename__ = "issued_documents"
    __table_args__ = (Index("ix_issued_documents_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    series: Mapped[str] = mapped_column(String(64))
    # Only a hash of the code printed on the document: the registry alone
    # cannot be used to forge a verification request.
    verification_code_sha256: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))
    holder_samagra_id: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    # What a verifier may be told: exactly what the printout shows.
    public_summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="valid")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[datetime]
    xml_sha256: Mapped[str] = mapped_column(String(64))
    kid: Mapped[str] = mapped_column(String(64))
    requested_by_client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("issued_documents.id"), nullable=True)

    files: Mapped[DocumentFiles] = relationship(back_populates="document", uselist=False, lazy="raise")

    def status_at(self, now: datetime) -> str:
        return status_at(self.status, self.valid_until, now)


class DocumentFiles(Base):
    """The signed bytes, apart from the registry row so lookups stay small."""

    __tablename__ = "issued_document_files"

    document_id: Mapped[int] = mapped_column(ForeignKey("issued_documents.id"), primary_key=True)
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    qr_payload: Mapped[str] = mapped_column(Text)

    document: Mapped[IssuedDocument] = relationship(back_populates="files")


class DocumentVerification(Base):
    """Each verification: who asked (client or address), how, and what they were told.

    Followers read it by ``id`` (hub.election's holder SMS): writers append under the
    feed lock (hub.verifications), so ids become visible in order.
    """

    __tablename__ = "document_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # The certificate answered about. No foreign key (migration 0016): its check locked the
    # certificate's row on every verification; the id is the hub's own, copied from the registry.
    document_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    number_given: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    verifier: Mapped[str] = mapped_column(String(200))
    # The partner (an authority) who asked, if one did: its checks are texted to the holder
    # (hub.election follows this log by id).
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RegistryChange(Base):
    """The registry's change feed: one row each time a document is issued or changes status.

    Host-local read replicas of the registry (hub.registry) follow it by ``id``.
    Writers take an advisory lock before appending (hub.db.lock_feed), so ids
    become visible in increasing order and a follower never skips a row that
    commits late.
    """

    __tablename__ = "registry_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
