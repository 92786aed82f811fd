"""The registry of every document the hub issued (certificates, sanction letters, demand notes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, text
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
    """valid / revoked / superseded / expired, as a verifier should be told."""
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

    Written in the answering request's transaction (hub.certificates.log).
    """

    __tablename__ = "document_verifications"
    __table_args__ = (
        # Only the rows still to be told to their holder: small, whatever the log's size.
        Index(
            "ix_document_verifications_notify_holder",
            "id",
            postgresql_where=text("notify_holder"),
            sqlite_where=text("notify_holder"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # The certificate answered about (None: unknown number, or a wrong secret).
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("issued_documents.id"), nullable=True, index=True
    )
    number_given: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    verifier: Mapped[str] = mapped_column(String(200))
    # The partner (an authority) who asked, if one did: its checks are texted to the holder.
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # True until hub-worker has claimed the row for the holder's SMS (hub.election.holder_sms);
    # None for rows no holder is told of. Claimed by this mark, not by id: ids are handed out
    # before commit, so a cursor by id skips a row whose transaction commits late.
    notify_holder: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
