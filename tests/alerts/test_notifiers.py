"""Each notifier against a real local receiver: body, signature per the channel's spec, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import ssl
import subprocess
import time
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path

import pytest

from alerts.notifiers import DeliveryError, Notification, build_notifier
from alerts.notifiers.smtp import SmtpNotifier
from kernel.settings import NotifierSettings
from tests.conftest import HttpReceiver

NOTE = Notification(
    idempotency_key="hook-0123abcd",
    title="【警告】诉求类别「环境保护」发文量异常升高",
    text="情况：最近1小时 58 条，同一时段常态约 12.0 条，是常态的 4.8 倍。\n查看详情：http://x/%E9%A2%84?alert=1",
    markdown="### 【警告】诉求类别「环境保护」发文量异常升高\n> 最近1小时 58 条",
    severity="warning",
    link="http://x/%E9%A2%84?alert=1",
    alerts=[{"id": 1, "rule": "r", "key": "category=环境保护"}],
    created_at="2026-11-20T06:30:00+00:00",
)


def notifier(kind: str, url: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return build_notifier(
        NotifierSettings.model_validate({"name": f"n_{kind}", "kind": kind, "url": url, **kw})
    )


def test_webhook_posts_json_with_hmac_signature(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    notifier("webhook", receiver.url + "/hook", secret="$env:HOOK_SECRET").send(NOTE)
    (req,) = receiver.requests
    assert req.path == "/hook"
    assert req.json()["title"] == NOTE.title and req.json()["idempotency_key"] == NOTE.idempotency_key
    assert req.headers["idempotency-key"] == NOTE.idempotency_key
    ts = req.headers["x-minsheng-timestamp"]
    assert abs(int(ts) - time.time()) < 60
    expected = hmac.new(b"s3cret", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-minsheng-signature"] == "sha256=" + expected


def test_webhook_error_status_and_missing_secret_raise(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.replies.append((503, {"error": "busy"}))
    with pytest.raises(DeliveryError, match="HTTP 503"):
        notifier("webhook", receiver.url).send(NOTE)
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    with pytest.raises(DeliveryError, match="not set"):
        notifier("webhook", receiver.url, secret="$env:NO_SUCH_SECRET").send(NOTE)
    assert len(receiver.requests) == 1  # the unsigned request was never sent


def test_webhook_unreachable_is_a_delivery_error() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DeliveryError, match="ConnectError"):
        notifier("webhook", f"http://127.0.0.1:{port}/").send(NOTE)


def test_wecom_markdown_key_from_secret_and_errcode(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECOM_KEY", "robot-key-1")
    wecom = notifier("wecom", receiver.url + "/cgi-bin/webhook/send", secret="$env:WECOM_KEY")
    wecom.send(NOTE)
    req = receiver.requests[-1]
    assert req.query == {"key": ["robot-key-1"]}
    assert req.json() == {"msgtype": "markdown", "markdown": {"content": NOTE.markdown}}
    receiver.replies.append((200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    with pytest.raises(DeliveryError, match="45009"):
        wecom.send(NOTE)


def test_wecom_cuts_markdown_to_4096_bytes(receiver: HttpReceiver) -> None:
    long = Notification(**{**NOTE.to_payload(), "markdown": "预警" * 3000})
    notifier("wecom", receiver.url + "/send?key=k").send(long)
    content = receiver.requests[-1].json()["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.endswith("…")


def test_dingtalk_signs_url_per_robot_spec(receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DING_SECRET", "SECabc123")
    notifier("dingtalk", receiver.url + "/robot/send?access_token=tok", secret="$env:DING_SECRET").send(NOTE)
    req = receiver.requests[-1]
    ts = req.query["timestamp"][0]
    assert req.query["access_token"] == ["tok"] and abs(int(ts) / 1000 - time.time()) < 60
    # parse_qs already URL-decoded the sign: compare with base64(HMAC(secret, f"{ts}\n{secret}")).
    digest = hmac.new(b"SECabc123", f"{ts}\nSECabc123".encode(), hashlib.sha256).digest()
    assert req.query["sign"] == [base64.b64encode(digest).decode()]
    assert req.json()["msgtype"] == "markdown" and req.json()["markdown"]["title"] == NOTE.title
    receiver.replies.append((200, {"errcode": 310000, "errmsg": "sign not match"}))
    with pytest.raises(DeliveryError, match="310000"):
        notifier("dingtalk", receiver.url + "/robot/send?access_token=tok", secret="$env:DING_SECRET").send(
            NOTE
        )


def test_feishu_signs_body_per_robot_spec(receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEISHU_SECRET", "fs-secret")
    receiver.default = (200, {"code": 0, "msg": "success"})
    notifier("feishu", receiver.url + "/open-apis/bot/v2/hook/x", secret="$env:FEISHU_SECRET").send(NOTE)
    body = receiver.requests[-1].json()
    ts = body["timestamp"]
    key = f"{ts}\nfs-secret".encode()  # Feishu: the string to sign is the HMAC key, the message is empty
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "text" and NOTE.title in body["content"]["text"]
    receiver.replies.append((200, {"code": 19021, "msg": "sign match fail"}))
    with pytest.raises(DeliveryError, match="19021"):
        notifier("feishu", receiver.url + "/hook", secret="$env:FEISHU_SECRET").send(NOTE)


def _smtp_settings(port: int, **kw: object) -> NotifierSettings:
    base = {
        "name": "mail",
        "kind": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "sender": "minsheng@gov.local",
    }
    return NotifierSettings.model_validate({**base, "recipients": ["duty@gov.local", "lead@gov.local"], **kw})


def test_smtp_sends_plain_text_with_idempotent_message_id(smtp_server) -> None:  # type: ignore[no-untyped-def]
    ctl, sink = smtp_server
    SmtpNotifier(_smtp_settings(ctl.port, smtp_starttls=False)).send(NOTE)  # a relay without TLS, by choice
    (env,) = sink.messages
    assert sorted(env.rcpt_tos) == ["duty@gov.local", "lead@gov.local"]
    msg = message_from_bytes(env.content, policy=email_policy)
    assert msg["Subject"] == NOTE.title
    assert msg["Message-ID"] == f"<{NOTE.idempotency_key}@minsheng.alerts>"
    assert msg.get_content_type() == "text/plain" and "常态约 12.0 条" in msg.get_content()


def test_smtp_refuses_a_server_without_starttls_unless_switched_off(
    smtp_server,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctl, sink = smtp_server  # a plain server that does not offer STARTTLS
    monkeypatch.setenv("SMTP_PW", "pw-never-sent")
    default = _smtp_settings(ctl.port, smtp_user="minsheng", smtp_password="$env:SMTP_PW")
    assert default.smtp_starttls
    with pytest.raises(DeliveryError, match="STARTTLS"):
        SmtpNotifier(default).send(NOTE)
    assert sink.messages == []
    SmtpNotifier(_smtp_settings(ctl.port, smtp_starttls=False)).send(NOTE)
    assert len(sink.messages) == 1


def test_smtp_starttls_and_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.smtp import AuthResult

    from tests.conftest import MailSink, PortZeroController

    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("the openssl command is needed to make a throw-away certificate")
        pytest.skip("the openssl command is needed to make a throw-away certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"pw-123", handled=False)

    sink = MailSink()
    ctl = PortZeroController(
        sink,
        hostname="127.0.0.1",
        port=0,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=authenticate,
    )
    ctl.start()
    try:
        monkeypatch.setenv("SMTP_PW", "pw-123")
        settings = _smtp_settings(
            ctl.port, smtp_starttls=True, smtp_user="minsheng", smtp_password="$env:SMTP_PW"
        )
        client_ctx = ssl.create_default_context(cafile=str(cert))
        SmtpNotifier(settings, ssl_context=client_ctx).send(NOTE)
        assert logins == [(b"minsheng", b"pw-123")] and len(sink.messages) == 1
        monkeypatch.setenv("SMTP_PW", "wrong")
        with pytest.raises(DeliveryError, match="SMTPAuthenticationError"):
            SmtpNotifier(settings, ssl_context=client_ctx).send(NOTE)
        plain = _smtp_settings(ctl.port, smtp_starttls=False)  # server requires STARTTLS: refused without it
        with pytest.raises(DeliveryError):
            SmtpNotifier(plain).send(NOTE)
    finally:
        ctl.stop()
    assert len(sink.messages) == 1
