"""E-mail over SMTP (``smtplib``), with STARTTLS (on unless ``smtp_starttls: false``) and login.

With STARTTLS on, a server that does not offer it is refused before anything (password or
mail) is sent; switch it off only for a local relay that has no TLS.

The ``Message-ID`` is derived from the notification's idempotency key, so a mail system or client
that de-duplicates by Message-ID drops the repeat a crash-and-resend may cause; the key is also
sent as ``X-Idempotency-Key``. A server that refuses some but not all recipients counts as
delivered (retrying would duplicate the mail to the others); the refusal is logged.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

import httpx

from alerts.notifiers.base import DeliveryError, Notification, Notifier, NotifierConfigError
from kernel.settings import NotifierSettings, resolve_secret

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 15.0


def build_email(settings: NotifierSettings, notification: Notification) -> EmailMessage:
    """The plain-text e-mail for ``notification`` (no HTML: the text may contain public posts)."""
    msg = EmailMessage()
    msg["Subject"] = notification.title
    msg["From"] = settings.sender or ""
    msg["To"] = ", ".join(settings.recipients)
    msg["Message-ID"] = f"<{notification.idempotency_key}@minsheng.alerts>"
    msg["X-Idempotency-Key"] = notification.idempotency_key
    msg["X-Minsheng-Severity"] = notification.severity
    msg.set_content(notification.text, charset="utf-8")
    return msg


class SmtpNotifier(Notifier):
    """Send the notification as one e-mail to every configured recipient.

    Args:
        settings: the notifier section (smtp_host, smtp_port, smtp_starttls, sender, recipients...).
        client: unused (the HTTP client of web notifiers).
        ssl_context: TLS context for STARTTLS (default: the system's trusted CAs).
    """

    kind = "smtp"

    def __init__(
        self,
        settings: NotifierSettings,
        client: httpx.Client | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(settings, client)
        self.ssl_context = ssl_context

    def send(self, notification: Notification) -> None:
        st = self.settings
        assert st.smtp_host is not None
        password = None
        if st.smtp_user:
            password = resolve_secret(st.smtp_password) if st.smtp_password else None
            if password is None:
                raise NotifierConfigError(f"{self.name}: smtp_password {st.smtp_password} is not set")
        msg = build_email(st, notification)
        try:
            with smtplib.SMTP(st.smtp_host, st.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
                smtp.ehlo()
                if st.smtp_starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if st.smtp_user and password is not None:
                    smtp.login(st.smtp_user, password)
                refused = smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if refused:
            log.warning("some recipients refused", extra={"notifier": self.name, "refused": sorted(refused)})
