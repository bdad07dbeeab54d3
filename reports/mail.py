"""Sending report files by e-mail through a configured SMTP notifier (``smtplib``, attachments).

The alert notifiers send plain notifications; a report needs attachments, so this module builds
its own message but reuses the notifier's connection settings (host, port, STARTTLS, login with
the password from ``$env:``/``$file:``).
"""

from __future__ import annotations

import logging
import mimetypes
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from kernel.settings import NotifierSettings, Settings, resolve_secret

log = logging.getLogger(__name__)
SMTP_TIMEOUT_S = 30.0
MIME_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
}


class ReportMailError(RuntimeError):
    """The report could not be e-mailed (configuration or SMTP failure)."""


def report_notifier(settings: Settings) -> NotifierSettings:
    """The SMTP notifier named by ``reports.notifier``.

    Raises:
        ReportMailError: when it is unset, unknown or not an SMTP notifier.
    """
    name = settings.reports.notifier
    if not name:
        raise ReportMailError("reports.recipients is set but reports.notifier names no smtp notifier")
    for notifier in settings.alerts.notifiers:
        if notifier.name == name:
            if notifier.kind != "smtp":
                raise ReportMailError(f"reports.notifier {name!r} is a {notifier.kind} notifier, not smtp")
            return notifier
    raise ReportMailError(f"reports.notifier {name!r} is not among alerts.notifiers")


def build_report_email(
    notifier: NotifierSettings, recipients: Sequence[str], subject: str, body: str, files: Sequence[Path]
) -> EmailMessage:
    """A plain-text e-mail with the report files attached."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = notifier.sender or ""
    msg["To"] = ", ".join(recipients)
    msg["Message-ID"] = make_msgid(domain="minsheng.reports")
    msg.set_content(body, charset="utf-8")
    for path in files:
        mime = MIME_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return msg


def send_report_email(
    notifier: NotifierSettings,
    recipients: Sequence[str],
    subject: str,
    body: str,
    files: Sequence[Path],
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Send ``files`` to ``recipients`` through the notifier's SMTP server.

    Raises:
        ReportMailError: on a missing password or any SMTP / network failure.
    """
    if not notifier.smtp_host:
        raise ReportMailError(f"notifier {notifier.name!r} has no smtp_host")
    password = None
    if notifier.smtp_user:
        password = resolve_secret(notifier.smtp_password) if notifier.smtp_password else None
        if password is None:
            raise ReportMailError(
                f"notifier {notifier.name!r}: smtp_password {notifier.smtp_password} is not set"
            )
    msg = build_report_email(notifier, recipients, subject, body, files)
    try:
        with smtplib.SMTP(notifier.smtp_host, notifier.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
            smtp.ehlo()
            if notifier.smtp_starttls:
                smtp.starttls(context=ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if notifier.smtp_user and password is not None:
                smtp.login(notifier.smtp_user, password)
            refused = smtp.send_message(msg, to_addrs=list(recipients))
    except (smtplib.SMTPException, OSError) as exc:
        raise ReportMailError(
            f"sending the report through {notifier.name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    if refused:
        log.warning(
            "some report recipients refused", extra={"notifier": notifier.name, "refused": sorted(refused)}
        )
