"""E-mail notifier: a plain-text message per event (with the event as a JSON attachment).

Sent with aiosmtplib: implicit TLS (``security: tls``, port 465), STARTTLS
(port 587, the default) or plain (``none``, for a relay on localhost). A
refused sender or recipient is given up at once; anything else is retried.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib

from monitor.config.notify import EmailNotifierConfig

from .base import Notifier, PermanentDeliveryError, register
from .message import Notification, fill


@register("email")
class EmailNotifier(Notifier):
    config: EmailNotifierConfig

    def __init__(self, config: EmailNotifierConfig, **_: Any) -> None:
        super().__init__(config)

    def message(self, event: Notification) -> EmailMessage:
        cfg = self.config
        subject = fill(cfg.subject, event.fields())
        if event.type == "escalation":
            subject = f"ESCALATED: {subject}"
        msg = EmailMessage()
        msg["From"] = cfg.sender
        msg["To"] = ", ".join(cfg.recipients)
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid("cleanroom-monitor", cfg.sender.split("@", 1)[1])
        msg["X-Cleanroom-Notification"] = event.id
        msg.set_content(event.text())
        msg.add_attachment(event.body(), maintype="application", subtype="json",
                           filename="alarm-event.json")
        return msg

    async def deliver(self, event: Notification) -> None:
        cfg = self.config
        tls_context = ssl.create_default_context() if cfg.security != "none" else None
        try:
            await aiosmtplib.send(
                self.message(event),
                hostname=cfg.host,
                port=cfg.effective_port,
                username=cfg.username,
                password=cfg.password.get_secret_value() if cfg.password else None,
                use_tls=cfg.security == "tls",
                start_tls=cfg.security == "starttls",
                tls_context=tls_context,
                timeout=30,
            )
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused) as err:
            raise PermanentDeliveryError(f"SMTP refused: {err}") from err
